// Server-side RFC 6455 frame reader: turns the bytes a client sent into whole messages and
// control frames, enforcing the protocol (masking, RSV bits, opcodes, fragment order, control
// frame rules, minimal length encodings, UTF-8 of text messages and close reasons, message size).
//
// It works in place: a frame that arrived whole in the caller's read buffer is unmasked there
// and handed over without a copy. Only a partial frame, a fragmented message, or the bytes left
// when the handler pauses are copied into the reader's own buffers, which are released when
// empty so that an idle connection holds no buffer at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace dispatch::ws {

// Bytes readable past the end of every message handed to the handler (simdjson's padding).
constexpr size_t message_padding = 64;

enum class MessageKind { text, binary };

class FrameReaderHandler {
 public:
  virtual ~FrameReaderHandler() = default;
  // A complete data message. `data` stays valid until return and is followed by at least
  // message_padding readable bytes. Return false to pause the reader (see FrameReader::resume).
  virtual bool on_message(MessageKind kind, char* data, size_t length) = 0;
  virtual void on_ping(std::string_view payload) = 0;
  virtual void on_pong(std::string_view payload) = 0;
  // The client's close frame (code 1005 when it carried none). The reader stops.
  virtual void on_close(uint16_t code, std::string_view reason) = 0;
  // A protocol violation; the reader stops. `close_code` is 1002, 1007 or 1009.
  virtual void on_protocol_error(uint16_t close_code, std::string_view reason) = 0;
};

class FrameReader {
 public:
  explicit FrameReader(uint64_t max_message_size) : max_message_size_(max_message_size) {}

  // Consumes `length` bytes at `data`, which must be followed by message_padding readable bytes.
  // The bytes are modified (unmasked). Whatever cannot be consumed yet is kept.
  void feed(char* data, size_t length, FrameReaderHandler& handler);

  // After a pause: processes the kept bytes until they run out or the handler pauses again.
  void resume(FrameReaderHandler& handler);

  bool paused() const { return paused_; }
  bool stopped() const { return stopped_; }
  size_t buffered_bytes() const {
    return buffers_ ? buffers_->kept.size() + buffers_->message.size() : 0;
  }
  void set_max_message_size(uint64_t size) { max_message_size_ = size; }

 private:
  // Processes frames in [data, data+length); returns the number of bytes consumed.
  size_t process(char* data, size_t length, FrameReaderHandler& handler);
  // Handles one complete, unmasked frame; returns false when processing must stop or pause.
  bool handle_frame(uint8_t opcode, bool fin, char* payload, size_t length,
                    FrameReaderHandler& handler);
  bool deliver(MessageKind kind, char* data, size_t length, FrameReaderHandler& handler);
  void fail(uint16_t code, std::string_view reason, FrameReaderHandler& handler);
  void keep(const char* data, size_t length);

  // Both buffers live behind one pointer, allocated only while something is buffered: an idle
  // connection's reader is a few bytes.
  struct Buffers {
    std::string kept;     // unconsumed bytes: a partial frame, or what remained at a pause
    std::string message;  // fragments of the message being assembled
  };
  std::string& kept() { return buffers().kept; }
  std::string& message() { return buffers().message; }
  Buffers& buffers() {
    if (!buffers_) buffers_ = std::make_unique<Buffers>();
    return *buffers_;
  }
  bool has_kept() const { return buffers_ && !buffers_->kept.empty(); }
  size_t assembled_size() const { return buffers_ ? buffers_->message.size() : 0; }
  void release_idle_buffers() {
    if (buffers_ && buffers_->kept.empty() && buffers_->message.empty()) buffers_.reset();
  }

  uint64_t max_message_size_;
  std::unique_ptr<Buffers> buffers_;
  MessageKind fragment_kind_ = MessageKind::text;
  bool in_fragmented_message_ = false;
  bool paused_ = false;
  bool stopped_ = false;
};

}  // namespace dispatch::ws
