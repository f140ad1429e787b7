// An outgoing frame: immutable, ready-to-send bytes (WebSocket header + payload, or a raw HTTP
// response), reference-counted so that one room message of 10,000 members is built once and
// shared by every send queue that holds it. One allocation holds the count, the size and the bytes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace dispatch {

class OutFrame {
 public:
  // Sizes are 32-bit (the header stays 8 bytes): server.max_message_size is capped far below
  // this (config::max_message_size_cap), so a frame built from a message never comes near it.
  static constexpr size_t max_size = UINT32_MAX;

  // Allocates a frame holding a copy of `bytes`; throws std::length_error past max_size.
  static OutFrame* create(std::string_view bytes);

  std::string_view bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }
  const char* data() const { return data_; }

  void retain() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }

 private:
  OutFrame(size_t size) : size_(static_cast<uint32_t>(size)) {}
  void destroy();

  std::atomic<uint32_t> refs_{1};
  uint32_t size_;
  char data_[1];  // the bytes continue past the object (one allocation)
};

// Owning handle to an OutFrame (like an intrusive_ptr).
class FrameRef {
 public:
  FrameRef() = default;
  explicit FrameRef(OutFrame* adopted) : frame_(adopted) {}  // takes over one reference
  FrameRef(const FrameRef& other) : frame_(other.frame_) {
    if (frame_) frame_->retain();
  }
  FrameRef(FrameRef&& other) noexcept : frame_(std::exchange(other.frame_, nullptr)) {}
  FrameRef& operator=(FrameRef other) noexcept {
    std::swap(frame_, other.frame_);
    return *this;
  }
  ~FrameRef() {
    if (frame_) frame_->release();
  }

  explicit operator bool() const { return frame_ != nullptr; }
  const OutFrame* operator->() const { return frame_; }
  const OutFrame& operator*() const { return *frame_; }

 private:
  OutFrame* frame_ = nullptr;
};

}  // namespace dispatch
