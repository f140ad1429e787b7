// Tests of parsing one client message (src/pipeline/incoming_message.h): the fields, every bad form
// with its error code and message, and the `ref` kept for errors (SPEC section 4).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <memory>
#include <string>

#include "pipeline/incoming_message.h"

namespace dispatch {
namespace {

class IncomingMessageTest : public ::testing::Test {
 protected:
  // Parses `json`; the views in message_ stay valid until the next call.
  std::optional<ParseFailure> parse(std::string_view json) {
    input_ = std::make_unique<simdjson::padded_string>(json);
    message_ = IncomingMessage{};
    return parse_incoming(parser_, input_->data(), input_->size(), message_);
  }

  // Expects a failure with this code and message.
  void expect_failure(std::string_view json, ErrorCode code, std::string_view text) {
    SCOPED_TRACE(std::string(json));
    auto failure = parse(json);
    ASSERT_TRUE(failure.has_value());
    EXPECT_EQ(wire_name(failure->code), wire_name(code));
    EXPECT_EQ(failure->message, text);
  }

  std::string payload_json() const {
    EXPECT_TRUE(message_.payload.has_value());
    return message_.payload ? simdjson::minify(*message_.payload) : std::string();
  }

  simdjson::dom::parser parser_;
  std::unique_ptr<simdjson::padded_string> input_;
  IncomingMessage message_;
};

// ---- valid messages ----

TEST_F(IncomingMessageTest, EventOnly) {
  EXPECT_FALSE(parse(R"({"event":"ping"})").has_value());
  EXPECT_EQ(message_.event, "ping");
  EXPECT_FALSE(message_.target.has_value());
  EXPECT_FALSE(message_.payload.has_value());
  EXPECT_EQ(message_.ref_json, "");
}

TEST_F(IncomingMessageTest, AllFields) {
  EXPECT_FALSE(parse(R"({"event": "send_message", "target": "room:lobby",
                         "payload": {"message": "hi", "n": [1, 2.5, null]}, "id": 7})")
                   .has_value());
  EXPECT_EQ(message_.event, "send_message");
  EXPECT_EQ(message_.target, "room:lobby");
  EXPECT_EQ(payload_json(), R"({"message":"hi","n":[1,2.5,null]})");
  EXPECT_EQ(message_.ref_json, "7");
}

TEST_F(IncomingMessageTest, KeysInAnyOrder) {
  EXPECT_FALSE(parse(R"({"id":"x","payload":1,"target":"t","event":"e"})").has_value());
  EXPECT_EQ(message_.event, "e");
  EXPECT_EQ(message_.target, "t");
  EXPECT_EQ(payload_json(), "1");
  EXPECT_EQ(message_.ref_json, R"("x")");
}

TEST_F(IncomingMessageTest, PayloadMayBeAnyJsonValue) {
  for (std::string_view payload : {"null", "true", "0", "\"text\"", "[]", "{}", "[{\"a\":{}}]"}) {
    SCOPED_TRACE(payload);
    EXPECT_FALSE(
        parse(std::string(R"({"event":"e","payload":)") + std::string(payload) + "}").has_value());
    EXPECT_EQ(payload_json(), payload);
  }
}

TEST_F(IncomingMessageTest, EscapedStringsAreDecoded) {
  EXPECT_FALSE(parse(R"({"event":"a\u0062c","target":"room:\"q\""})").has_value());
  EXPECT_EQ(message_.event, "abc");
  EXPECT_EQ(message_.target, "room:\"q\"");
}

TEST_F(IncomingMessageTest, EmptyEventNameIsAString) {
  EXPECT_FALSE(parse(R"({"event":""})").has_value());
  EXPECT_EQ(message_.event, "");
}

TEST_F(IncomingMessageTest, OtherKeysAreIgnored) {
  EXPECT_FALSE(parse(R"({"event":"e","extra":{"deep":[1]},"version":2})").has_value());
  EXPECT_EQ(message_.event, "e");
}

// ---- ids ----

TEST_F(IncomingMessageTest, StringIdIsKeptAsEscapedJson) {
  EXPECT_FALSE(parse(R"({"event":"e","id":"req-1"})").has_value());
  EXPECT_EQ(message_.ref_json, R"("req-1")");
  EXPECT_FALSE(parse(R"({"event":"e","id":"a\"b\\c\n"})").has_value());
  EXPECT_EQ(message_.ref_json, R"("a\"b\\c\n")");
  EXPECT_FALSE(parse(R"({"event":"e","id":"\u0041\u0001"})").has_value());
  EXPECT_EQ(message_.ref_json, R"("A\u0001")");
  EXPECT_FALSE(parse("{\"event\":\"e\",\"id\":\"h\xc3\xa9\"}").has_value());
  EXPECT_EQ(message_.ref_json, "\"h\xc3\xa9\"");
  EXPECT_FALSE(parse(R"({"event":"e","id":""})").has_value());
  EXPECT_EQ(message_.ref_json, R"("")");
}

TEST_F(IncomingMessageTest, NumericIdIsKeptAsWritten) {
  for (std::string_view id : {"7", "0", "-3", "2.5", "0.1", "12345678901234567890",
                              "-9223372036854775808", "9007199254740993"}) {
    SCOPED_TRACE(id);
    EXPECT_FALSE(parse(std::string(R"({"event":"e","id":)") + std::string(id) + "}").has_value());
    EXPECT_EQ(message_.ref_json, id);
  }
}

TEST_F(IncomingMessageTest, OtherNumberFormsKeepTheirValue) {
  // Not byte for byte (the DOM keeps the value, not the text), but the same JSON number.
  for (std::string_view id : {"1.50", "1e2", "1E-7", "-0", "2.5e+3"}) {
    SCOPED_TRACE(id);
    EXPECT_FALSE(parse(std::string(R"({"event":"e","id":)") + std::string(id) + "}").has_value());
    const std::string ref = message_.ref_json;
    ASSERT_FALSE(ref.empty());
    simdjson::dom::parser check;
    double value = 0;
    ASSERT_EQ(check.parse(simdjson::padded_string(ref)).get_double().get(value), simdjson::SUCCESS)
        << ref;
    EXPECT_EQ(value, std::stod(std::string(id))) << ref;
  }
}

TEST_F(IncomingMessageTest, IdOfAnotherTypeIsBadMessage) {
  for (std::string_view id : {"null", "true", "false", "[]", "[1]", "{}", "{\"a\":1}"}) {
    expect_failure(std::string(R"({"event":"e","id":)") + std::string(id) + "}",
                   ErrorCode::bad_message, "`id` must be a string or a number");
    EXPECT_EQ(message_.ref_json, "");
    EXPECT_EQ(message_.event, "e");
  }
}

// ---- bad forms ----

TEST_F(IncomingMessageTest, MissingEvent) {
  expect_failure(R"({"target":"room:a","id":3})", ErrorCode::bad_message, "`event` is required");
  EXPECT_EQ(message_.ref_json, "3");
  expect_failure("{}", ErrorCode::bad_message, "`event` is required");
  expect_failure(R"({"Event":"e"})", ErrorCode::bad_message, "`event` is required");
}

TEST_F(IncomingMessageTest, EventNotAString) {
  for (std::string_view value : {"1", "null", "true", "[\"e\"]", "{\"name\":\"e\"}"}) {
    expect_failure(std::string(R"({"event":)") + std::string(value) + R"(,"id":"r"})",
                   ErrorCode::bad_message, "`event` must be a string");
    EXPECT_EQ(message_.ref_json, R"("r")");
    EXPECT_FALSE(message_.event.has_value());
  }
}

TEST_F(IncomingMessageTest, TargetNotAString) {
  for (std::string_view value : {"1", "null", "[\"room\"]", "{}"}) {
    expect_failure(std::string(R"({"event":"e","target":)") + std::string(value) + R"(,"id":4})",
                   ErrorCode::bad_message, "`target` must be a string");
    EXPECT_EQ(message_.ref_json, "4");
    EXPECT_EQ(message_.event, "e");
  }
}

TEST_F(IncomingMessageTest, TargetOfAtMost256Bytes) {
  const std::string at_limit(256, 't');
  EXPECT_FALSE(parse(R"({"event":"e","target":")" + at_limit + "\"}").has_value());
  EXPECT_EQ(message_.target, at_limit);
  expect_failure(R"({"event":"e","id":1,"target":")" + std::string(257, 't') + "\"}",
                 ErrorCode::bad_message, "`target` is longer than 256 bytes");
  EXPECT_EQ(message_.ref_json, "1");
  EXPECT_FALSE(message_.target.has_value());
}

TEST_F(IncomingMessageTest, TargetLengthCountsBytesNotCharacters) {
  std::string two_byte_chars;
  for (int i = 0; i < 128; ++i) two_byte_chars += "\xc3\xa9";
  EXPECT_FALSE(parse(R"({"event":"e","target":")" + two_byte_chars + "\"}").has_value());
  expect_failure(R"({"event":"e","target":")" + two_byte_chars + "x\"}", ErrorCode::bad_message,
                 "`target` is longer than 256 bytes");
  // Escapes count as the bytes they stand for: 256 "\u0041" escapes are 256 bytes.
  std::string escaped;
  for (int i = 0; i < 256; ++i) escaped += "\\u0041";
  EXPECT_FALSE(parse(R"({"event":"e","target":")" + escaped + "\"}").has_value());
  EXPECT_EQ(message_.target, std::string(256, 'A'));
}

TEST_F(IncomingMessageTest, DuplicateTopLevelKeysAreBadMessage) {
  expect_failure(R"({"event":"a","event":"b"})", ErrorCode::bad_message,
                 "the key `event` appears twice");
  expect_failure(R"({"event":"a","id":1,"id":2})", ErrorCode::bad_message,
                 "the key `id` appears twice");
  expect_failure(R"({"event":"a","target":"x","payload":1,"target":"y"})", ErrorCode::bad_message,
                 "the key `target` appears twice");
  expect_failure(R"({"x":1,"event":"a","x":2})", ErrorCode::bad_message,
                 "the key `x` appears twice");
  // The same key spelled with an escape is the same key.
  expect_failure(R"({"event":"a","\u0065vent":"b"})", ErrorCode::bad_message,
                 "the key `event` appears twice");
}

TEST_F(IncomingMessageTest, DuplicateKeyErrorKeepsRefAndEvent) {
  expect_failure(R"({"id":9,"event":"send","payload":1,"payload":2})", ErrorCode::bad_message,
                 "the key `payload` appears twice");
  EXPECT_EQ(message_.ref_json, "9");
  EXPECT_EQ(message_.event, "send");
}

TEST_F(IncomingMessageTest, KeysOfNestedObjectsAreNotTopLevelKeys) {
  EXPECT_FALSE(parse(R"({"event":"e","payload":{"event":1,"a":{"b":1,"a":2}}})").has_value());
  EXPECT_FALSE(parse(R"({"event":"e","payload":[{"a":1},{"a":2}],"x":{"payload":1}})").has_value());
}

// Templates read the first of two equal keys, `{.payload}` forwards both and browsers keep the
// last: a message with a duplicate key at any depth is refused, naming the key and where.
TEST_F(IncomingMessageTest, DuplicateKeysAtAnyDepthAreBadMessage) {
  expect_failure(R"({"event":"e","payload":{"a":1,"b":2,"a":3}})", ErrorCode::bad_message,
                 "the key `a` appears twice in `payload`");
  expect_failure(R"({"event":"e","payload":{"x":{"y":[0,{"k":1,"k":1}]}},"id":4})",
                 ErrorCode::bad_message, "the key `k` appears twice in `payload.x.y[1]`");
  EXPECT_EQ(message_.ref_json, "4");  // the answer still carries the ref and the event
  EXPECT_EQ(message_.event, "e");
  expect_failure(R"({"event":"e","payload":[[{"a":{"\u0062":1,"b":2}}]]})", ErrorCode::bad_message,
                 "the key `b` appears twice in `payload[0][0].a`");
  expect_failure(R"({"event":"e","other":{"z":null,"z":null}})", ErrorCode::bad_message,
                 "the key `z` appears twice in `other`");
  const std::string long_key(100, 'q');
  expect_failure(R"({"event":"e","payload":{")" + long_key + R"(":1,")" + long_key + R"(":2}})",
                 ErrorCode::bad_message,
                 "the key `" + std::string(64, 'q') + "…` appears twice in `payload`");
}

// Objects too large for the pairwise comparison are checked by sorting their keys.
TEST_F(IncomingMessageTest, DuplicateKeysInLargeObjects) {
  auto object_with_keys = [](int count, int duplicate_of) {
    std::string json = "{";
    for (int i = 0; i < count; ++i)
      json += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    json += "\"k" + std::to_string(duplicate_of) + "\":0}";
    return json;
  };
  EXPECT_FALSE(parse(R"({"event":"e","payload":)" + object_with_keys(200, 1000) + "}").has_value());
  expect_failure(R"({"event":"e","payload":{"list":[)" + object_with_keys(200, 150) + "]}}",
                 ErrorCode::bad_message, "the key `k150` appears twice in `payload.list[0]`");
  expect_failure(R"({"event":"e","payload":)" + object_with_keys(16, 0) + "}",
                 ErrorCode::bad_message, "the key `k0` appears twice in `payload`");
}

std::string message_with_keys(int count) {
  std::string json = R"({"event":"e")";
  for (int i = 1; i < count; ++i) json += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
  return json + "}";
}

TEST_F(IncomingMessageTest, AtMost32TopLevelKeys) {
  EXPECT_FALSE(parse(message_with_keys(32)).has_value());
  expect_failure(message_with_keys(33), ErrorCode::bad_message,
                 "a message may have at most 32 top-level keys");
  expect_failure(message_with_keys(1000), ErrorCode::bad_message,
                 "a message may have at most 32 top-level keys");
}

TEST_F(IncomingMessageTest, FirstProblemIsReported) {
  expect_failure(R"({"event":1,"target":2})", ErrorCode::bad_message, "`event` must be a string");
  expect_failure(R"({"target":2,"event":1})", ErrorCode::bad_message, "`target` must be a string");
}

TEST_F(IncomingMessageTest, NonObjectRootsAreBadMessage) {
  for (std::string_view json : {"[]", "[{\"event\":\"e\"}]", "\"event\"", "1", "null", "true"}) {
    expect_failure(json, ErrorCode::bad_message, "a message must be a JSON object");
  }
}

TEST_F(IncomingMessageTest, InvalidJsonIsBadJson) {
  for (std::string_view json :
       {"", " ", "{", "{\"event\":}", "{\"event\":\"e\",}", "{'event':'e'}", "{event:\"e\"}",
        "{\"event\":\"e\"} x", "{\"event\":\"e\"}{}", "{\"event\":\"unterminated}",
        "{\"event\":\"e\",\"payload\":[1,2}", "{\"event\":\"e\",\"payload\":NaN}",
        "{\"event\":\"bad \\x escape\"}", "{\"event\":\"raw\ttab\"}"}) {
    expect_failure(json, ErrorCode::bad_json, "the message is not valid JSON");
  }
}

TEST_F(IncomingMessageTest, InvalidUtf8IsBadJson) {
  for (std::string_view json :
       {"{\"event\":\"\xff\"}", "{\"event\":\"e\",\"payload\":\"\xc0\xaf\"}",
        "{\"event\":\"e\",\"target\":\"\xed\xa0\x80\"}", "{\"event\":\"e\",\"id\":\"\xc3\"}"}) {
    expect_failure(json, ErrorCode::bad_json, "the message is not valid UTF-8");
  }
}

TEST_F(IncomingMessageTest, DeepNestingIsRefusedNotACrash) {
  const std::string deep =
      R"({"event":"e","payload":)" + std::string(5000, '[') + std::string(5000, ']') + "}";
  expect_failure(deep, ErrorCode::bad_json,
                 "the message is nested too deeply: at most 1024 levels of objects and arrays");
}

// Valid JSON that no 64-bit integer or double holds says so, rather than "not valid JSON".
TEST_F(IncomingMessageTest, NumbersOutOfRangeAreNamed) {
  const std::string out_of_range =
      "a number in the message is out of range: integers must fit in 64 bits "
      "(-9223372036854775808 to 18446744073709551615) and other numbers in a double (up to "
      "about 1.8e308); send larger numbers as strings";
  for (std::string_view json : {R"({"event":"e","payload":18446744073709551616})",
                                R"({"event":"e","payload":{"n":[-9223372036854775809]}})",
                                R"({"event":"e","id":123456789012345678901234567890})",
                                R"({"event":"e","payload":1e400,"target":"1e-5 -0 \" 01"})"}) {
    expect_failure(json, ErrorCode::bad_json, out_of_range);
  }
  EXPECT_FALSE(parse(R"({"event":"e","payload":[18446744073709551615,-9223372036854775808,1e308]})")
                   .has_value());
  for (std::string_view json : {R"({"event":"e","payload":01})", R"({"event":"e","payload":1.})",
                                R"({"event":"e","payload":-})", R"({"event":"e","payload":1e})",
                                R"({"event":"e","payload":[1e400,01]})"}) {
    expect_failure(json, ErrorCode::bad_json, "the message is not valid JSON (a malformed number)");
  }
}

}  // namespace
}  // namespace dispatch
