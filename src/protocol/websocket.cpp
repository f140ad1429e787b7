#include "protocol/websocket.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <simdjson.h>

#include <cstring>

namespace dispatch::ws {

bool is_valid_close_code_from_peer(uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  switch (code) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
    case 1012:
    case 1013:
    case 1014:
      return true;
    default:
      return false;
  }
}

size_t write_server_header(Opcode opcode, uint64_t payload_length, char* out) {
  out[0] = static_cast<char>(0x80 | static_cast<uint8_t>(opcode));
  if (payload_length < 126) {
    out[1] = static_cast<char>(payload_length);
    return 2;
  }
  if (payload_length <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<char>(payload_length >> 8);
    out[3] = static_cast<char>(payload_length & 0xFF);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>(payload_length >> (56 - 8 * i));
  return 10;
}

std::string_view server_frame_payload(std::string_view frame) {
  if (frame.size() < 2) return {};
  const uint8_t length_byte = static_cast<uint8_t>(frame[1]) & 0x7f;
  const size_t header = length_byte == 127 ? 10 : length_byte == 126 ? 4 : 2;
  return frame.size() < header ? std::string_view() : frame.substr(header);
}

std::string make_server_frame(Opcode opcode, std::string_view payload) {
  char header[max_server_header_size];
  size_t header_length = write_server_header(opcode, payload.size(), header);
  std::string frame;
  frame.reserve(header_length + payload.size());
  frame.append(header, header_length);
  frame.append(payload);
  return frame;
}

std::string make_close_frame(uint16_t code, std::string_view reason) {
  if (reason.size() > 123) {
    // Cut at a character boundary: a close reason must stay valid UTF-8.
    size_t cut = 123;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason);
  return make_server_frame(Opcode::close, payload);
}

void unmask(char* data, size_t length, const uint8_t mask[4], size_t offset) {
  uint8_t rotated[4];
  for (int i = 0; i < 4; ++i) rotated[i] = mask[(offset + i) & 3];
  uint64_t wide;
  uint8_t wide_bytes[8] = {rotated[0], rotated[1], rotated[2], rotated[3],
                           rotated[0], rotated[1], rotated[2], rotated[3]};
  std::memcpy(&wide, wide_bytes, 8);
  size_t i = 0;
  for (; i + 8 <= length; i += 8) {
    uint64_t chunk;
    std::memcpy(&chunk, data + i, 8);
    chunk ^= wide;
    std::memcpy(data + i, &chunk, 8);
  }
  for (; i < length; ++i) data[i] = static_cast<char>(data[i] ^ rotated[i & 3]);
}

std::string accept_key(std::string_view client_key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input;
  input.reserve(client_key.size() + guid.size());
  input.append(client_key);
  input.append(guid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int length = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(encoded), static_cast<size_t>(length));
}

bool is_valid_utf8(std::string_view bytes) {
  return simdjson::validate_utf8(bytes.data(), bytes.size());
}

}  // namespace dispatch::ws
