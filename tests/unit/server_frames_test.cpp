// Tests of the frames the server sends (src/frames/server_frames.h): exact bytes of event, error
// and ack frames, key order, JSON escaping, header length classes, and that every payload
// parses back as the JSON a client expects.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "frames/server_frames.h"

namespace dispatch {
namespace {

// Splits a server text frame into its payload, checking the header on the way.
std::string text_payload(const FrameRef& frame) {
  const std::string_view bytes = frame->bytes();
  EXPECT_GE(bytes.size(), 2u);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 0x81) << "FIN + text";
  const uint8_t length7 = static_cast<uint8_t>(bytes[1]);
  EXPECT_EQ(length7 & 0x80, 0) << "server frames are not masked";
  uint64_t length = length7;
  size_t header = 2;
  if (length7 == 126) {
    length = (uint64_t{static_cast<uint8_t>(bytes[2])} << 8) | static_cast<uint8_t>(bytes[3]);
    header = 4;
    EXPECT_GE(length, 126u) << "minimal encoding";
  } else if (length7 == 127) {
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<uint8_t>(bytes[2 + i]);
    header = 10;
    EXPECT_GT(length, 0xFFFFu) << "minimal encoding";
  }
  EXPECT_EQ(bytes.size(), header + length);
  return std::string(bytes.substr(header));
}

// Parses the payload; fails the test if it is not valid JSON.
simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element root;
  auto error = parser.parse(simdjson::padded_string(json)).get(root);
  EXPECT_EQ(error, simdjson::SUCCESS) << json;
  return root;
}

std::string string_at(simdjson::dom::element root, std::string_view pointer) {
  std::string_view value;
  EXPECT_EQ(root.at_pointer(pointer).get_string().get(value), simdjson::SUCCESS) << pointer;
  return std::string(value);
}

// ---- event frames ----

TEST(ServerFrames, EventFrameWithoutOrigin) {
  FrameRef frame = build_event_frame("welcome", R"({"conn_id":"n1-1"})");
  EXPECT_EQ(frame->bytes(),
            std::string("\x81\x30") + R"({"event":"welcome","payload":{"conn_id":"n1-1"}})");
}

TEST(ServerFrames, EventFrameKeysInOrderEventPayloadRefRoomFrom) {
  FrameOrigin origin;
  origin.ref_json = "7";
  origin.room = "room:lobby";
  origin.from = "alice";
  EXPECT_EQ(
      text_payload(build_event_frame("new_message", R"({"m":"hi"})", origin)),
      R"({"event":"new_message","payload":{"m":"hi"},"ref":7,"room":"room:lobby","from":"alice"})");
}

TEST(ServerFrames, EventFrameWithEachOriginFieldAlone) {
  FrameOrigin ref_only;
  ref_only.ref_json = R"("req-1")";
  EXPECT_EQ(text_payload(build_event_frame("pong", "null", ref_only)),
            R"({"event":"pong","payload":null,"ref":"req-1"})");
  FrameOrigin room_only;
  room_only.room = "game:1";
  EXPECT_EQ(text_payload(build_event_frame("tick", "[1,2]", room_only)),
            R"({"event":"tick","payload":[1,2],"room":"game:1"})");
  FrameOrigin from_only;
  from_only.from = "bob";
  EXPECT_EQ(text_payload(build_event_frame("dm", R"("text")", from_only)),
            R"({"event":"dm","payload":"text","from":"bob"})");
  FrameOrigin empty_strings;
  empty_strings.room = "";
  empty_strings.from = "";
  EXPECT_EQ(text_payload(build_event_frame("e", "0", empty_strings)),
            R"({"event":"e","payload":0,"room":"","from":""})");
}

TEST(ServerFrames, EventFrameEscapesEventRoomAndFrom) {
  FrameOrigin origin;
  origin.room = "a\"b\\c\nd";
  origin.from = "tab\there\x01";
  EXPECT_EQ(text_payload(build_event_frame("ev\"il", "{}", origin)),
            R"({"event":"ev\"il","payload":{},"room":"a\"b\\c\nd","from":"tab\there\u0001"})");
}

TEST(ServerFrames, EscapedFieldsParseBackToTheOriginalText) {
  const std::string room =
      "quote\" backslash\\ newline\n nul" + std::string(1, '\0') + " h\xc3\xa9";
  const std::string from = "}\",\"injected\":\"1";
  FrameOrigin origin;
  origin.room = room;
  origin.from = from;
  simdjson::dom::parser parser;
  auto root = parse(parser, text_payload(build_event_frame("x", R"({"k":[true]})", origin)));
  EXPECT_EQ(string_at(root, "/event"), "x");
  EXPECT_EQ(string_at(root, "/room"), room);
  EXPECT_EQ(string_at(root, "/from"), from);
  simdjson::dom::object object;
  ASSERT_EQ(root.get_object().get(object), simdjson::SUCCESS);
  EXPECT_EQ(object.size(), 4u) << "no key was injected";
}

TEST(ServerFrames, FrameOf125BytesHasTheShortHeader) {
  // {"event":"e","payload":} is 24 bytes around the payload.
  const std::string payload = "\"" + std::string(99, 'p') + "\"";
  FrameRef frame = build_event_frame("e", payload);
  ASSERT_EQ(frame->size(), 2u + 125u);
  EXPECT_EQ(static_cast<uint8_t>(frame->bytes()[1]), 125);
}

TEST(ServerFrames, FrameOver125BytesHasThe16BitHeader) {
  const std::string payload = "\"" + std::string(100, 'p') + "\"";
  FrameRef frame = build_event_frame("e", payload);
  ASSERT_EQ(frame->size(), 4u + 126u);
  EXPECT_EQ(frame->bytes().substr(0, 4), std::string("\x81\x7e\x00\x7e", 4));
  EXPECT_EQ(text_payload(frame), R"({"event":"e","payload":)" + payload + "}");
}

TEST(ServerFrames, FrameOver65535BytesHasThe64BitHeader) {
  const std::string big = "\"" + std::string(70000, 'z') + "\"";
  FrameOrigin origin;
  origin.room = "r";
  FrameRef frame = build_event_frame("big", big, origin);
  const size_t json_size =
      std::string(R"({"event":"big","payload":,"room":"r"})").size() + big.size();
  ASSERT_EQ(frame->size(), 10u + json_size);
  std::string expected_header("\x81\x7f\x00\x00\x00\x00\x00\x00\x00\x00", 10);
  expected_header[7] = static_cast<char>((json_size >> 16) & 0xFF);
  expected_header[8] = static_cast<char>((json_size >> 8) & 0xFF);
  expected_header[9] = static_cast<char>(json_size & 0xFF);
  EXPECT_EQ(frame->bytes().substr(0, 10), expected_header);
  simdjson::dom::parser parser;
  auto root = parse(parser, text_payload(frame));
  EXPECT_EQ(string_at(root, "/payload").size(), 70000u);
}

TEST(ServerFrames, FramesAreIndependentOfEachOther) {
  FrameRef big = build_event_frame("big", "\"" + std::string(5000, 'b') + "\"");
  FrameRef small = build_event_frame("small", "1");
  EXPECT_EQ(text_payload(small), R"({"event":"small","payload":1})");
  EXPECT_EQ(text_payload(big), R"({"event":"big","payload":")" + std::string(5000, 'b') + "\"}");
}

// ---- error frames ----

TEST(ServerFrames, ErrorFrameWithoutRefOrEvent) {
  EXPECT_EQ(
      text_payload(build_error_frame(ErrorCode::bad_json, "the message is not valid JSON", "",
                                     std::nullopt)),
      R"({"event":"error","payload":{"code":"bad_json","message":"the message is not valid JSON","ref":null,"event":null}})");
}

TEST(ServerFrames, ErrorFrameWithRefAndEvent) {
  EXPECT_EQ(
      text_payload(build_error_frame(ErrorCode::unknown_event, "no such event", "7",
                                     std::string_view("nope"))),
      R"({"event":"error","payload":{"code":"unknown_event","message":"no such event","ref":7,"event":"nope"}})");
  EXPECT_EQ(
      text_payload(
          build_error_frame(ErrorCode::forbidden, "no", R"("a\"b")", std::string_view("send"))),
      R"({"event":"error","payload":{"code":"forbidden","message":"no","ref":"a\"b","event":"send"}})");
}

TEST(ServerFrames, ErrorFrameWithField) {
  ErrorDetails details;
  details.field = "payload.message";
  EXPECT_EQ(
      text_payload(build_error_frame(ErrorCode::missing_field, "missing", "1",
                                     std::string_view("send"), details)),
      R"({"event":"error","payload":{"code":"missing_field","message":"missing","ref":1,"event":"send","field":"payload.message"}})");
}

TEST(ServerFrames, ErrorFrameWithRetryAfter) {
  ErrorDetails details;
  details.retry_after_ms = 1500;
  EXPECT_EQ(
      text_payload(build_error_frame(ErrorCode::rate_limited, "slow down", "",
                                     std::string_view("send"), details)),
      R"({"event":"error","payload":{"code":"rate_limited","message":"slow down","ref":null,"event":"send","retry_after_ms":1500}})");
  details.retry_after_ms = 0;
  EXPECT_EQ(
      text_payload(build_error_frame(ErrorCode::rate_limited, "now", "", std::nullopt, details)),
      R"({"event":"error","payload":{"code":"rate_limited","message":"now","ref":null,"event":null,"retry_after_ms":0}})");
}

TEST(ServerFrames, ErrorFrameWithPathAndRule) {
  ErrorDetails details;
  details.path = "/message";
  details.rule = "maxLength";
  EXPECT_EQ(
      text_payload(build_error_frame(ErrorCode::invalid_payload, "too long", "2",
                                     std::string_view("send"), details)),
      R"({"event":"error","payload":{"code":"invalid_payload","message":"too long","ref":2,"event":"send","path":"/message","rule":"maxLength"}})");
  // The root of the payload is the empty JSON Pointer.
  details.path = "";
  details.rule = "type";
  EXPECT_EQ(
      text_payload(build_error_frame(ErrorCode::invalid_payload, "not an object", "", std::nullopt,
                                     details)),
      R"({"event":"error","payload":{"code":"invalid_payload","message":"not an object","ref":null,"event":null,"path":"","rule":"type"}})");
}

TEST(ServerFrames, ErrorFrameEscapesMessageAndEvent) {
  ErrorDetails details;
  details.field = "a\"b";
  simdjson::dom::parser parser;
  auto root = parse(parser, text_payload(build_error_frame(ErrorCode::bad_message,
                                                           "the key `\"x\\` appears\ttwice", "",
                                                           std::string_view("e\"v"), details)));
  EXPECT_EQ(string_at(root, "/payload/message"), "the key `\"x\\` appears\ttwice");
  EXPECT_EQ(string_at(root, "/payload/event"), "e\"v");
  EXPECT_EQ(string_at(root, "/payload/field"), "a\"b");
  EXPECT_TRUE(root.at_pointer("/payload/ref").is_null());
}

TEST(ServerFrames, EveryErrorCodeHasItsWireName) {
  const std::pair<ErrorCode, const char*> table[] = {
      {ErrorCode::bad_json, "bad_json"},           {ErrorCode::bad_message, "bad_message"},
      {ErrorCode::unknown_event, "unknown_event"}, {ErrorCode::invalid_payload, "invalid_payload"},
      {ErrorCode::rate_limited, "rate_limited"},   {ErrorCode::forbidden, "forbidden"},
      {ErrorCode::invalid_token, "invalid_token"}, {ErrorCode::missing_field, "missing_field"},
      {ErrorCode::room_full, "room_full"},         {ErrorCode::internal, "internal"},
  };
  for (const auto& [code, name] : table) {
    EXPECT_EQ(wire_name(code), name);
    simdjson::dom::parser parser;
    auto root = parse(parser, text_payload(build_error_frame(code, "m", "", std::nullopt)));
    EXPECT_EQ(string_at(root, "/payload/code"), name);
  }
  EXPECT_FALSE(counts_against_budget(ErrorCode::rate_limited));
  EXPECT_TRUE(counts_against_budget(ErrorCode::bad_json));
  EXPECT_TRUE(counts_against_budget(ErrorCode::forbidden));
}

// ---- ack and control frames ----

TEST(ServerFrames, AckFrame) {
  EXPECT_EQ(build_ack_frame("7")->bytes(),
            std::string("\x81\x23") + R"({"event":"ack","payload":{"ref":7}})");
  EXPECT_EQ(text_payload(build_ack_frame(R"("id-\"1")")),
            R"({"event":"ack","payload":{"ref":"id-\"1"}})");
}

TEST(ServerFrames, CloseFrame) {
  EXPECT_EQ(build_close_frame(1008, "slow consumer")->bytes(),
            std::string("\x88\x0f\x03\xf0slow consumer", 17));
  EXPECT_EQ(build_close_frame(1000, "")->bytes(), std::string("\x88\x02\x03\xe8", 4));
}

TEST(ServerFrames, ControlAndRawFrames) {
  EXPECT_EQ(build_control_frame(0x9, "p")->bytes(), "\x89\x01p");
  EXPECT_EQ(build_control_frame(0xA, "")->bytes(), std::string("\x8a\x00", 2));
  const std::string http = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(build_raw_frame(http)->bytes(), http);
}

}  // namespace
}  // namespace dispatch

TEST(ServerFrames, IsJsonDocumentAcceptsOneDocumentOnly) {
  EXPECT_TRUE(dispatch::is_json_document(R"({"a":[1,2,{"b":null}]})"));
  EXPECT_TRUE(dispatch::is_json_document("\"text\""));
  EXPECT_TRUE(dispatch::is_json_document("42"));
  EXPECT_FALSE(dispatch::is_json_document(R"({"a":1)"));
  EXPECT_FALSE(dispatch::is_json_document(R"({"a":"unterminated})"));
  EXPECT_FALSE(dispatch::is_json_document(""));
  EXPECT_FALSE(dispatch::is_json_document("{} {}"));
}
