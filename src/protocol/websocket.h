// RFC 6455 constants and the small pure functions of the protocol: opcodes, close codes, the
// server frame header, masking and the handshake's accept key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dispatch::ws {

enum class Opcode : uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// Close codes used by the server (SPEC section 7).
namespace close_code {
constexpr uint16_t normal = 1000;
constexpr uint16_t going_away = 1001;
constexpr uint16_t protocol_error = 1002;
constexpr uint16_t invalid_payload = 1007;  // invalid UTF-8
constexpr uint16_t policy = 1008;
constexpr uint16_t too_big = 1009;
constexpr uint16_t abnormal = 1006;  // never sent: the connection ended without a close frame
constexpr uint16_t internal_error = 1011;
constexpr uint16_t timeout = 4000;
constexpr uint16_t replaced = 4001;
constexpr uint16_t disconnected = 4003;
constexpr uint16_t token_refused = 4401;
constexpr uint16_t forbidden = 4403;
constexpr uint16_t limited = 4429;
}  // namespace close_code

// Whether a client may send this code in a close frame (RFC 6455 section 7.4).
bool is_valid_close_code_from_peer(uint16_t code);

// The largest header of a server frame: 2 + 8 bytes (servers never mask).
constexpr size_t max_server_header_size = 10;

// Writes the header of an unmasked, final server frame with this payload length into `out`
// (at least max_server_header_size bytes) and returns its length.
size_t write_server_header(Opcode opcode, uint64_t payload_length, char* out);

// The payload of a whole server frame (as make_server_frame builds them).
std::string_view server_frame_payload(std::string_view frame);

// Builds a complete unmasked server frame.
std::string make_server_frame(Opcode opcode, std::string_view payload);

// A close frame's payload: the code in network order, then the reason (truncated to fit 125).
std::string make_close_frame(uint16_t code, std::string_view reason);

// XORs `length` bytes with the 4-byte mask, starting at mask position `offset`.
void unmask(char* data, size_t length, const uint8_t mask[4], size_t offset = 0);

// base64(SHA-1(key + GUID)) for Sec-WebSocket-Accept.
std::string accept_key(std::string_view client_key);

// Whether the bytes are valid UTF-8 (simdjson's validator).
bool is_valid_utf8(std::string_view bytes);

}  // namespace dispatch::ws
