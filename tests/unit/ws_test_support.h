// Helpers for the WebSocket unit tests: building client frames (masked, any length encoding,
// any header bits) independently of the code under test.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dispatch::ws::test_support {

enum class LengthForm { minimal, bits7, bits16, bits64 };

struct RawFrame {
  uint8_t first_byte = 0x81;  // FIN + opcode + RSV bits as sent
  std::string payload;
  LengthForm form = LengthForm::minimal;
  bool masked = true;
  uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  // When set, the length field says this instead of payload.size() (the payload is still sent).
  bool override_length = false;
  uint64_t announced_length = 0;
};

inline std::string encode(const RawFrame& frame) {
  std::string out;
  out.push_back(static_cast<char>(frame.first_byte));
  const uint64_t length = frame.override_length ? frame.announced_length : frame.payload.size();
  LengthForm form = frame.form;
  if (form == LengthForm::minimal) {
    form = length < 126       ? LengthForm::bits7
           : length <= 0xFFFF ? LengthForm::bits16
                              : LengthForm::bits64;
  }
  const uint8_t mask_bit = frame.masked ? 0x80 : 0x00;
  switch (form) {
    case LengthForm::bits7:
      out.push_back(static_cast<char>(mask_bit | length));
      break;
    case LengthForm::bits16:
      out.push_back(static_cast<char>(mask_bit | 126));
      out.push_back(static_cast<char>((length >> 8) & 0xFF));
      out.push_back(static_cast<char>(length & 0xFF));
      break;
    case LengthForm::bits64:
    case LengthForm::minimal:
      out.push_back(static_cast<char>(mask_bit | 127));
      for (int shift = 56; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((length >> shift) & 0xFF));
      }
      break;
  }
  if (frame.masked) {
    out.append(reinterpret_cast<const char*>(frame.mask), 4);
    for (size_t i = 0; i < frame.payload.size(); ++i) {
      out.push_back(static_cast<char>(frame.payload[i] ^ frame.mask[i % 4]));
    }
  } else {
    out.append(frame.payload);
  }
  return out;
}

// A masked client frame with the minimal length encoding.
inline std::string client_frame(uint8_t opcode, std::string_view payload, bool fin = true) {
  RawFrame frame;
  frame.first_byte = static_cast<uint8_t>((fin ? 0x80 : 0x00) | opcode);
  frame.payload = std::string(payload);
  return encode(frame);
}

inline std::string text_frame(std::string_view payload, bool fin = true) {
  return client_frame(0x1, payload, fin);
}
inline std::string binary_frame(std::string_view payload, bool fin = true) {
  return client_frame(0x2, payload, fin);
}
inline std::string continuation_frame(std::string_view payload, bool fin = true) {
  return client_frame(0x0, payload, fin);
}
inline std::string ping_frame(std::string_view payload) {
  return client_frame(0x9, payload);
}
inline std::string pong_frame(std::string_view payload) {
  return client_frame(0xA, payload);
}

// A close frame whose payload is the code in network order followed by the reason.
inline std::string close_frame(uint16_t code, std::string_view reason = {}) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason);
  return client_frame(0x8, payload);
}

}  // namespace dispatch::ws::test_support
