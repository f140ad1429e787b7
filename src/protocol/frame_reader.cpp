#include "protocol/frame_reader.h"

#include <cstring>

#include "protocol/websocket.h"

namespace dispatch::ws {

namespace {

bool is_control(uint8_t opcode) {
  return opcode & 0x8;
}

bool is_known_opcode(uint8_t opcode) {
  return opcode == 0x0 || opcode == 0x1 || opcode == 0x2 || opcode == 0x8 || opcode == 0x9 ||
         opcode == 0xA;
}

}  // namespace

void FrameReader::feed(char* data, size_t length, FrameReaderHandler& handler) {
  if (stopped_) return;
  if (has_kept() || paused_) {
    keep(data, length);
    if (!paused_) resume(handler);
    return;
  }
  size_t consumed = process(data, length, handler);
  if (!stopped_ && consumed < length) keep(data + consumed, length - consumed);
  release_idle_buffers();
}

void FrameReader::resume(FrameReaderHandler& handler) {
  paused_ = false;
  if (stopped_ || !has_kept()) return;
  std::string& bytes = kept();
  size_t consumed = process(bytes.data(), bytes.size(), handler);
  if (stopped_) {
    buffers_.reset();
    return;
  }
  bytes.erase(0, consumed);
  release_idle_buffers();
}

void FrameReader::keep(const char* data, size_t length) {
  std::string& bytes = kept();
  bytes.reserve(bytes.size() + length + message_padding);
  bytes.append(data, length);
}

size_t FrameReader::process(char* data, size_t length, FrameReaderHandler& handler) {
  size_t offset = 0;
  while (!stopped_ && !paused_) {
    const size_t available = length - offset;
    if (available < 2) break;
    auto* bytes = reinterpret_cast<uint8_t*>(data + offset);
    const bool fin = bytes[0] & 0x80;
    const uint8_t rsv = bytes[0] & 0x70;
    const uint8_t opcode = bytes[0] & 0x0F;
    const bool masked = bytes[1] & 0x80;
    uint64_t payload_length = bytes[1] & 0x7F;
    size_t header_length = 2;

    if (rsv) return fail(close_code::protocol_error, "reserved bits set", handler), offset;
    if (!is_known_opcode(opcode))
      return fail(close_code::protocol_error, "unknown opcode", handler), offset;
    if (!masked)
      return fail(close_code::protocol_error, "client frames must be masked", handler), offset;
    if (is_control(opcode)) {
      if (!fin)
        return fail(close_code::protocol_error, "fragmented control frame", handler), offset;
      if (payload_length > 125)
        return fail(close_code::protocol_error, "control frame too long", handler), offset;
    }

    if (payload_length == 126) {
      if (available < 4) break;
      payload_length = (uint64_t{bytes[2]} << 8) | bytes[3];
      header_length = 4;
      if (payload_length < 126)
        return fail(close_code::protocol_error, "non-minimal length", handler), offset;
    } else if (payload_length == 127) {
      if (available < 10) break;
      payload_length = 0;
      for (int i = 0; i < 8; ++i) payload_length = (payload_length << 8) | bytes[2 + i];
      header_length = 10;
      if (payload_length >> 63)
        return fail(close_code::protocol_error, "length out of range", handler), offset;
      if (payload_length <= 0xFFFF)
        return fail(close_code::protocol_error, "non-minimal length", handler), offset;
    }

    if (!is_control(opcode)) {
      const uint64_t assembled = in_fragmented_message_ ? assembled_size() : 0;
      if (payload_length > max_message_size_ || assembled + payload_length > max_message_size_) {
        return fail(close_code::too_big, "message too big", handler), offset;
      }
    }

    if (available < 4 + header_length) break;
    const uint8_t* mask = bytes + header_length;
    header_length += 4;
    if (available - header_length < payload_length) break;

    char* payload = data + offset + header_length;
    const auto size = static_cast<size_t>(payload_length);
    unmask(payload, size, mask);
    offset += header_length + size;
    if (!handle_frame(opcode, fin, payload, size, handler)) break;
  }
  return offset;
}

bool FrameReader::handle_frame(uint8_t opcode, bool fin, char* payload, size_t length,
                               FrameReaderHandler& handler) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::ping:
      handler.on_ping({payload, length});
      return true;
    case Opcode::pong:
      handler.on_pong({payload, length});
      return true;
    case Opcode::close: {
      if (length == 1) return fail(close_code::protocol_error, "bad close frame", handler), false;
      uint16_t code = 1005;
      std::string_view reason;
      if (length >= 2) {
        code = static_cast<uint16_t>((uint8_t(payload[0]) << 8) | uint8_t(payload[1]));
        reason = {payload + 2, length - 2};
        if (!is_valid_close_code_from_peer(code)) {
          return fail(close_code::protocol_error, "invalid close code", handler), false;
        }
        if (!is_valid_utf8(reason)) {
          return fail(close_code::invalid_payload, "invalid UTF-8 in close reason", handler), false;
        }
      }
      stopped_ = true;
      handler.on_close(code, reason);
      return false;
    }
    case Opcode::text:
    case Opcode::binary: {
      if (in_fragmented_message_) {
        return fail(close_code::protocol_error, "expected a continuation frame", handler), false;
      }
      const MessageKind kind = opcode == 0x1 ? MessageKind::text : MessageKind::binary;
      if (fin) return deliver(kind, payload, length, handler);
      in_fragmented_message_ = true;
      fragment_kind_ = kind;
      message().reserve(length + message_padding);
      message().assign(payload, length);
      return true;
    }
    case Opcode::continuation: {
      if (!in_fragmented_message_) {
        return fail(close_code::protocol_error, "continuation without a message", handler), false;
      }
      std::string& assembled = message();
      assembled.reserve(assembled.size() + length + message_padding);
      assembled.append(payload, length);
      if (!fin) return true;
      in_fragmented_message_ = false;
      bool go_on = deliver(fragment_kind_, assembled.data(), assembled.size(), handler);
      assembled.clear();
      assembled.shrink_to_fit();  // a big message's buffer is not kept
      return go_on;
    }
  }
  return fail(close_code::protocol_error, "unknown opcode", handler), false;
}

bool FrameReader::deliver(MessageKind kind, char* data, size_t length,
                          FrameReaderHandler& handler) {
  if (kind == MessageKind::text && !is_valid_utf8({data, length})) {
    fail(close_code::invalid_payload, "invalid UTF-8", handler);
    return false;
  }
  if (!handler.on_message(kind, data, length)) {
    paused_ = true;
    return false;
  }
  return !stopped_;
}

void FrameReader::fail(uint16_t code, std::string_view reason, FrameReaderHandler& handler) {
  stopped_ = true;
  handler.on_protocol_error(code, reason);
}

}  // namespace dispatch::ws
