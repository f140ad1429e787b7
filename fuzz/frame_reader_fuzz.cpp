// libFuzzer target: arbitrary client bytes, split at arbitrary points, through the frame
// reader. It must never crash, read out of bounds, deliver after stopping, or hand over a
// message larger than the limit or a text message that is not UTF-8.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "protocol/frame_reader.h"
#include "protocol/websocket.h"

namespace {

constexpr uint64_t max_message = 4096;

class CheckingHandler final : public dispatch::ws::FrameReaderHandler {
 public:
  bool on_message(dispatch::ws::MessageKind kind, char* data, size_t length) override {
    if (stopped || length > max_message) std::abort();
    if (kind == dispatch::ws::MessageKind::text && !dispatch::ws::is_valid_utf8({data, length})) {
      std::abort();
    }
    // Touches every byte the reader promised readable (the message and its padding).
    char sum = 0;
    for (size_t i = 0; i < length + dispatch::ws::message_padding; ++i) sum ^= data[i];
    volatile char sink = sum;
    (void)sink;
    return ++messages % 3 != 0;  // pause now and then
  }
  void on_ping(std::string_view payload) override {
    if (payload.size() > 125) std::abort();
  }
  void on_pong(std::string_view payload) override {
    if (payload.size() > 125) std::abort();
  }
  void on_close(uint16_t code, std::string_view) override {
    if (stopped || !(code == 1005 || dispatch::ws::is_valid_close_code_from_peer(code))) {
      std::abort();
    }
    stopped = true;
  }
  void on_protocol_error(uint16_t, std::string_view) override {
    if (stopped) std::abort();
    stopped = true;
  }

  bool stopped = false;
  unsigned messages = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  dispatch::ws::FrameReader reader(max_message);
  CheckingHandler handler;
  const size_t chunk = 1 + data[0] % 64;  // the first byte picks how the rest is split
  std::vector<char> buffer;
  for (size_t offset = 1; offset < size; offset += chunk) {
    size_t length = std::min(chunk, size - offset);
    buffer.assign(data + offset, data + offset + length);
    buffer.resize(length + dispatch::ws::message_padding);
    reader.feed(buffer.data(), length, handler);
    while (reader.paused()) reader.resume(handler);
  }
  return 0;
}
