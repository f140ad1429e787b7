#include "session/send_queue.h"

#include <utility>

namespace dispatch {

void SendQueue::grow() {
  uint32_t new_capacity = capacity_ == 0 ? 4 : capacity_ * 2;
  auto new_ring = std::make_unique<Slot[]>(new_capacity);
  for (uint32_t i = 0; i < count_; ++i) new_ring[i] = std::move(at(i));
  ring_ = std::move(new_ring);
  capacity_ = new_capacity;
  head_ = 0;
}

void SendQueue::push(FrameRef frame, bool control) {
  if (count_ == capacity_) grow();
  bytes_ += frame->size();
  at(count_) = Slot{std::move(frame), control};
  ++count_;
}

int SendQueue::gather(iovec* vectors, int max) const {
  int filled = 0;
  for (uint32_t i = 0; i < count_ && filled < max; ++i) {
    const OutFrame& frame = *at(i).frame;
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
    FrameRef& head = at(0).frame;
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
    FrameRef& last = at(count_ - 1).frame;
    dropped += last->size();
    last = FrameRef();
    --count_;
  }
  bytes_ -= dropped;
  return dropped;
}

uint64_t SendQueue::drop_oldest_until(uint64_t limit) {
  if (bytes_ <= limit) return 0;
  const uint32_t protect = head_offset_ > 0 ? 1 : 0;  // a partial head must go out whole
  // Drop data frames from the front until under the limit, leaving holes; control frames stay.
  uint64_t dropped = 0;
  uint32_t scanned = protect;
  for (; scanned < count_ && bytes_ > limit; ++scanned) {
    Slot& slot = at(scanned);
    if (slot.control) continue;
    dropped += slot.frame->size();
    bytes_ -= slot.frame->size();
    slot.frame = FrameRef();
  }
  // Close the holes: the kept frames of the scanned prefix move up, in order, next to the
  // untouched rest; the front of the ring that is left empty is released by moving the head.
  uint32_t filled = scanned;
  for (uint32_t i = scanned; i-- > 0;) {
    if (!at(i).frame) continue;
    if (--filled != i) at(filled) = std::move(at(i));
  }
  head_ = (head_ + filled) & (capacity_ - 1);
  count_ -= filled;
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
