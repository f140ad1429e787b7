// Tests of the small RFC 6455 functions (src/protocol/websocket.h): the accept key, server
// frame headers, close frames, unmasking and which close codes a peer may send.
#include <gtest/gtest.h>

#include <string>

#include "protocol/websocket.h"

namespace dispatch::ws {
namespace {

std::string header_bytes(Opcode opcode, uint64_t length) {
  char out[max_server_header_size + 4];
  std::fill(std::begin(out), std::end(out), '\x5a');
  size_t size = write_server_header(opcode, length, out);
  EXPECT_EQ(out[size], '\x5a') << "wrote past the returned length";
  return std::string(out, size);
}

TEST(WebSocket, AcceptKeyOfTheRfcExample) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocket, AcceptKeyOfAnotherKey) {
  // Computed independently: base64(sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
  EXPECT_EQ(accept_key("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST(WebSocket, ServerHeaderSevenBitLengths) {
  EXPECT_EQ(header_bytes(Opcode::text, 0), std::string("\x81\x00", 2));
  EXPECT_EQ(header_bytes(Opcode::text, 5), "\x81\x05");
  EXPECT_EQ(header_bytes(Opcode::binary, 125), "\x82\x7d");
  EXPECT_EQ(header_bytes(Opcode::close, 2), "\x88\x02");
  EXPECT_EQ(header_bytes(Opcode::ping, 1), "\x89\x01");
  EXPECT_EQ(header_bytes(Opcode::pong, 0), std::string("\x8a\x00", 2));
}

TEST(WebSocket, ServerHeaderSixteenBitLengths) {
  EXPECT_EQ(header_bytes(Opcode::text, 126), std::string("\x81\x7e\x00\x7e", 4));
  EXPECT_EQ(header_bytes(Opcode::text, 256), std::string("\x81\x7e\x01\x00", 4));
  EXPECT_EQ(header_bytes(Opcode::binary, 65535), std::string("\x82\x7e\xff\xff", 4));
}

TEST(WebSocket, ServerHeaderSixtyFourBitLengths) {
  EXPECT_EQ(header_bytes(Opcode::text, 65536),
            std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
  EXPECT_EQ(header_bytes(Opcode::binary, 0x0102030405060708ULL),
            std::string("\x82\x7f\x01\x02\x03\x04\x05\x06\x07\x08", 10));
}

TEST(WebSocket, MakeServerFrameIsHeaderThenPayload) {
  EXPECT_EQ(make_server_frame(Opcode::text, "hi"), "\x81\x02hi");
  const std::string big(300, 'z');
  EXPECT_EQ(make_server_frame(Opcode::binary, big), std::string("\x82\x7e\x01\x2c", 4) + big);
}

TEST(WebSocket, CloseFrameHoldsCodeAndReason) {
  EXPECT_EQ(make_close_frame(1000, ""), std::string("\x88\x02\x03\xe8", 4));
  EXPECT_EQ(make_close_frame(4003, "kicked"), std::string("\x88\x08\x0f\xa3kicked", 10));
}

TEST(WebSocket, CloseFrameReasonIsTruncatedToFit125Bytes) {
  const std::string reason(200, 'r');
  const std::string frame = make_close_frame(1008, reason);
  ASSERT_EQ(frame.size(), 2u + 125u);
  EXPECT_EQ(frame.substr(0, 4), std::string("\x88\x7d\x03\xf0", 4));
  EXPECT_EQ(frame.substr(4), std::string(123, 'r'));
  // Exactly 123 bytes of reason fit unchanged.
  EXPECT_EQ(make_close_frame(1000, std::string(123, 'q')).substr(4), std::string(123, 'q'));
}

TEST(WebSocket, TruncatedCloseReasonStaysValidUtf8) {
  // A close reason must be UTF-8 (a client fails the connection otherwise), so truncation may
  // not cut a multi-byte character in half. "xy" then two-byte characters: byte 122 is the lead
  // byte of a character whose second byte would be byte 123, one past the 123 that fit.
  std::string reason = "xy";
  for (int i = 0; i < 70; ++i) reason += "\xc3\xa9";
  const std::string frame = make_close_frame(4003, reason);
  const std::string sent_reason = frame.substr(4);
  EXPECT_TRUE(is_valid_utf8(sent_reason)) << "reason of " << sent_reason.size() << " bytes";
  EXPECT_EQ(sent_reason, reason.substr(0, 122));
  EXPECT_EQ(static_cast<uint8_t>(frame[1]), 2u + 122u);
}

TEST(WebSocket, UnmaskFromOffsetZero) {
  const uint8_t mask[4] = {0x01, 0x02, 0x03, 0x04};
  std::string data("\x61\x63\x61\x67\x64\x65", 6);
  unmask(data.data(), data.size(), mask);
  EXPECT_EQ(data, std::string("\x60\x61\x62\x63\x65\x67", 6));
}

TEST(WebSocket, UnmaskWithEveryOffsetAndLengthMatchesBytewiseXor) {
  const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t length = 0; length < 40; ++length) {
      std::string data;
      for (size_t i = 0; i < length; ++i) data.push_back(static_cast<char>(i * 31 + 7));
      std::string expected = data;
      for (size_t i = 0; i < length; ++i) {
        expected[i] = static_cast<char>(expected[i] ^ mask[(offset + i) % 4]);
      }
      unmask(data.data(), data.size(), mask, offset);
      ASSERT_EQ(data, expected) << "offset " << offset << " length " << length;
    }
  }
}

TEST(WebSocket, UnmaskInTwoPiecesEqualsUnmaskInOne) {
  const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
  std::string whole = "The quick brown fox jumps over the lazy dog";
  std::string pieces = whole;
  unmask(whole.data(), whole.size(), mask);
  unmask(pieces.data(), 13, mask, 0);
  unmask(pieces.data() + 13, pieces.size() - 13, mask, 13);
  EXPECT_EQ(pieces, whole);
  // Unmasking twice restores the text.
  unmask(whole.data(), whole.size(), mask);
  EXPECT_EQ(whole, "The quick brown fox jumps over the lazy dog");
}

TEST(WebSocket, CloseCodesAPeerMaySend) {
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                        3000, 3999, 4000, 4001, 4999}) {
    EXPECT_TRUE(is_valid_close_code_from_peer(code)) << code;
  }
  for (uint16_t code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_FALSE(is_valid_close_code_from_peer(code)) << code;
  }
}

TEST(WebSocket, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));
}

}  // namespace
}  // namespace dispatch::ws
