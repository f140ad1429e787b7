#include "frames/out_frame.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace dispatch {

OutFrame* OutFrame::create(std::string_view bytes) {
  if (bytes.size() > max_size) throw std::length_error("an outgoing frame larger than 4GiB");
  void* memory = std::malloc(offsetof(OutFrame, data_) + (bytes.empty() ? 1 : bytes.size()));
  if (!memory) throw std::bad_alloc();
  auto* frame = new (memory) OutFrame(bytes.size());
  if (!bytes.empty()) std::memcpy(frame->data_, bytes.data(), bytes.size());
  return frame;
}

void OutFrame::destroy() {
  this->~OutFrame();
  std::free(this);
}

}  // namespace dispatch
