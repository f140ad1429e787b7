#include "transport/send_queue.h"

#include <utility>

namespace dispatch {

void SendQueue::grow() {
  uint32_t new_capacity = capacity_ == 0 ? 4 : capacity_ * 2;
  auto new_ring = std::make_unique<FrameRef[]>(new_capacity);
  for (uint32_t i = 0; i < count_; ++i) new_ring[i] = std::move(at(i));
  ring_ = std::move(new_ring);
  capacity_ = new_capacity;
  head_ = 0;
}

void SendQueue::push(FrameRef frame) {
  if (count_ == capacity_) grow();
  bytes_ += frame->size();
  at(count_) = std::move(frame);
  ++count_;
}

int SendQueue::gather(iovec* vectors, int max) const {
  int filled = 0;
  for (uint32_t i = 0; i < count_ && filled < max; ++i) {
    const OutFrame& frame = *at(i);
    size_t skip = i == 0 ? head_offset_ : 0;
    vectors[filled].iov_base = const_cast<char*>(frame.data() + skip);
    vectors[filled].iov_len = frame.size() - skip;
    ++filled;
  }
  return filled;
}

void SendQueue::consume(size_t written) {
  bytes_ -= written;
  while (written > 0 && count_ > 0) {
    FrameRef& head = at(0);
    size_t remaining = head->size() - head_offset_;
    if (written < remaining) {
      head_offset_ += static_cast<uint32_t>(written);
      return;
    }
    written -= remaining;
    head = FrameRef();
    head_ = (head_ + 1) & (capacity_ - 1);
    --count_;
    head_offset_ = 0;
  }
}

uint64_t SendQueue::drop_all_but_partial_head() {
  uint64_t dropped = 0;
  uint32_t keep = head_offset_ > 0 ? 1 : 0;
  while (count_ > keep) {
    FrameRef& last = at(count_ - 1);
    dropped += last->size();
    last = FrameRef();
    --count_;
  }
  bytes_ -= dropped;
  return dropped;
}

uint64_t SendQueue::drop_oldest_until(uint64_t limit) {
  uint64_t dropped = 0;
  uint32_t protect = head_offset_ > 0 ? 1 : 0;
  while (bytes_ > limit && count_ > protect) {
    // Remove the oldest whole frame: index `protect`.
    FrameRef removed = std::move(at(protect));
    for (uint32_t i = protect; i + 1 < count_; ++i) at(i) = std::move(at(i + 1));
    --count_;
    dropped += removed->size();
    bytes_ -= removed->size();
  }
  return dropped;
}

void SendQueue::release_memory() {
  if (count_ == 0 && ring_) {
    ring_.reset();
    capacity_ = 0;
    head_ = 0;
  }
}

}  // namespace dispatch
