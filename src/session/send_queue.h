// A connection's queue of frames waiting to be written: references to shared frames, counted in
// bytes, gathered into one writev. Empty, it holds no memory (the ring is allocated on first use
// and released by release_memory() when idle). Control frames (ping, pong, close, the HTTP
// response) are marked and never dropped by drop_oldest_until.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "frames/out_frame.h"

namespace dispatch {

class SendQueue {
 public:
  void push(FrameRef frame) { push(std::move(frame), false); }
  void push_control(FrameRef frame) { push(std::move(frame), true); }
  bool empty() const { return count_ == 0; }
  size_t frame_count() const { return count_; }
  uint64_t bytes() const { return bytes_; }  // not yet written, including a partial head
  bool head_partially_written() const { return head_offset_ > 0; }

  // Fills up to `max` iovecs with the unwritten bytes; returns how many.
  int gather(iovec* vectors, int max) const;
  // Drops `written` bytes from the front after a successful write.
  void consume(size_t written);

  // Drops every frame except a partially written head (slow-consumer disconnect); returns bytes
  // dropped.
  uint64_t drop_all_but_partial_head();
  // Drops the oldest whole data frames (never a partial head, never a control frame) until at
  // most `limit` bytes remain; the rest keep their order. O(1) amortised per dropped frame (plus
  // the few control frames it passes). Returns bytes dropped.
  uint64_t drop_oldest_until(uint64_t limit);

  void release_memory();

 private:
  struct Slot {
    FrameRef frame;
    bool control = false;
  };
  void push(FrameRef frame, bool control);
  Slot& at(size_t index) { return ring_[(head_ + index) & (capacity_ - 1)]; }
  const Slot& at(size_t index) const { return ring_[(head_ + index) & (capacity_ - 1)]; }
  void grow();

  std::unique_ptr<Slot[]> ring_;
  uint32_t capacity_ = 0;  // a power of two
  uint32_t head_ = 0;
  uint32_t count_ = 0;
  uint32_t head_offset_ = 0;  // bytes of the head frame already written
  uint64_t bytes_ = 0;
};

}  // namespace dispatch
