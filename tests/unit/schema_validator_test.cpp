// A payload against a compiled schema: each keyword passes and fails, the failure names the
// value by JSON Pointer (RFC 6901 escaping), the keyword, and says what was expected.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "config_test_support.h"
#include "schema/json_pointer.h"
#include "schema/schema_compiler.h"
#include "schema/schema_validator.h"

namespace dispatch::schema {
namespace {

Schema compiled(const std::string& schema_yaml) {
  config::LoadResult loaded =
      config::test_support::load("events:\n  e:\n    schema: " + schema_yaml + "\n");
  for (const auto& error : loaded.errors) ADD_FAILURE() << config::format_error(error);
  if (!loaded.config) return {};
  std::vector<config::ConfigError> errors;
  auto schema = compile_schema(*loaded.config->events.at(0).schema, "events.e.schema", errors);
  for (const auto& error : errors) ADD_FAILURE() << config::format_error(error);
  return schema ? *schema : Schema{};
}

// "ok", or "rule path | message".
std::string check(const Schema& schema, const std::string& payload) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  if (parser.parse(payload).get(element)) return "unparsable test payload";
  const auto violation = validate(schema, element);
  if (!violation) return "ok";
  return std::string(violation->rule) + " " + violation->path + " | " + violation->message;
}

const char* kSpecSchema =
    "{type: object, required: [message], properties: {message: {type: string, maxLength: 2000}}}";

TEST(SchemaValidator, TheSpecExample) {
  const Schema schema = compiled(kSpecSchema);
  EXPECT_EQ(check(schema, R"({"message":"hi there"})"), "ok");
  EXPECT_EQ(check(schema, R"({"message":"hi","extra":[1,2]})"), "ok");
  EXPECT_EQ(check(schema, R"({"message":")" + std::string(2001, 'x') + "\"}"),
            "maxLength /message | payload/message: expected at most 2000 characters, got 2001");
  EXPECT_EQ(check(schema, R"({"text":"hi"})"),
            "required /message | payload: the required property `message` is missing");
  EXPECT_EQ(check(schema, R"({"message":5})"),
            "type /message | payload/message: expected a string, got a number");
  EXPECT_EQ(check(schema, R"("hi")"), "type  | payload: expected an object, got a string");
}

TEST(SchemaValidator, Types) {
  const Schema integer = compiled("{type: integer}");
  EXPECT_EQ(check(integer, "3"), "ok");
  EXPECT_EQ(check(integer, "-3"), "ok");
  EXPECT_EQ(check(integer, "18446744073709551615"), "ok");
  EXPECT_EQ(check(integer, "2.0"), "ok");  // JSON Schema: a number with no fraction
  EXPECT_EQ(check(integer, "2.5"), "type  | payload: expected an integer, got a number");
  const Schema number = compiled("{type: number}");
  EXPECT_EQ(check(number, "3"), "ok");
  EXPECT_EQ(check(number, "2.5"), "ok");
  EXPECT_EQ(check(number, "\"3\""), "type  | payload: expected a number, got a string");
  const Schema several = compiled("{type: [string, \"null\", boolean]}");
  EXPECT_EQ(check(several, "null"), "ok");
  EXPECT_EQ(check(several, "false"), "ok");
  EXPECT_EQ(check(several, "\"x\""), "ok");
  EXPECT_EQ(check(several, "[]"),
            "type  | payload: expected a string, a boolean or null, got an array");
  EXPECT_EQ(check(compiled("{type: array}"), "{}"),
            "type  | payload: expected an array, got an object");
  EXPECT_EQ(check(compiled("{}"), "{\"anything\": [1, {}]}"), "ok");
}

TEST(SchemaValidator, Enum) {
  const Schema schema = compiled("{enum: [red, \"1\", 2, true, null]}");
  EXPECT_EQ(check(schema, "\"red\""), "ok");
  EXPECT_EQ(check(schema, "\"1\""), "ok");
  EXPECT_EQ(check(schema, "2"), "ok");
  EXPECT_EQ(check(schema, "2.0"), "ok");
  EXPECT_EQ(check(schema, "true"), "ok");
  EXPECT_EQ(check(schema, "null"), "ok");
  const std::string failure = "enum  | payload: expected one of \"red\", \"1\", 2, true, null";
  EXPECT_EQ(check(schema, "1"), failure);
  EXPECT_EQ(check(schema, "\"2\""), failure);
  EXPECT_EQ(check(schema, "false"), failure);
  EXPECT_EQ(check(schema, "\"Red\""), failure);
}

TEST(SchemaValidator, LengthsCountUnicodeCodePoints) {
  const Schema schema = compiled("{minLength: 2, maxLength: 3}");
  EXPECT_EQ(check(schema, "\"ab\""), "ok");
  EXPECT_EQ(check(schema, "\"h\u00e9\u00e9\""), "ok");                     // 5 bytes, 3 characters
  EXPECT_EQ(check(schema, "\"\xF0\x9F\x98\x80\xF0\x9F\x98\x80\""), "ok");  // 2 emoji, 8 bytes
  EXPECT_EQ(check(schema, "\"\\u00e9\\u00e9\""), "ok");  // escapes count as their characters
  EXPECT_EQ(check(schema, "\"a\""), "minLength  | payload: expected at least 2 characters, got 1");
  EXPECT_EQ(check(schema, "\"\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\""),
            "maxLength  | payload: expected at most 3 characters, got 4");
  EXPECT_EQ(check(compiled("{minLength: 1}"), "\"\""),
            "minLength  | payload: expected at least 1 character, got 0");
  EXPECT_EQ(code_point_count("\xE2\x82\xAC"
                             "a"),
            2u);
  // Without `type`, lengths do not check other types.
  EXPECT_EQ(check(schema, "12345"), "ok");
}

TEST(SchemaValidator, MinimumAndMaximumAreInclusiveAndExact) {
  const Schema schema = compiled("{minimum: -1.5, maximum: 10}");
  EXPECT_EQ(check(schema, "-1.5"), "ok");
  EXPECT_EQ(check(schema, "10"), "ok");
  EXPECT_EQ(check(schema, "10.0"), "ok");
  EXPECT_EQ(check(schema, "-2"), "minimum  | payload: expected a number of at least -1.5, got -2");
  EXPECT_EQ(check(schema, "10.25"),
            "maximum  | payload: expected a number of at most 10, got 10.25");
  // Beyond 2^53 a double would round 2^53 + 1 down to the bound.
  const Schema big = compiled("{maximum: 9007199254740992}");
  EXPECT_EQ(check(big, "9007199254740992"), "ok");
  EXPECT_EQ(check(big, "9007199254740993"),
            "maximum  | payload: expected a number of at most 9007199254740992, got "
            "9007199254740993");
  EXPECT_EQ(check(compiled("{minimum: 0}"), "18446744073709551615"), "ok");
}

TEST(SchemaValidator, ArraysAndItems) {
  const Schema schema = compiled("{type: array, maxItems: 3, items: {type: string, maxLength: 2}}");
  EXPECT_EQ(check(schema, "[]"), "ok");
  EXPECT_EQ(check(schema, R"(["a","bc","d"])"), "ok");
  EXPECT_EQ(check(schema, R"(["a","b","c","d"])"),
            "maxItems  | payload: expected at most 3 items, got 4");
  EXPECT_EQ(check(schema, R"(["a","bcd"])"),
            "maxLength /1 | payload/1: expected at most 2 characters, got 3");
  EXPECT_EQ(check(schema, R"(["a",null])"), "type /1 | payload/1: expected a string, got null");
}

TEST(SchemaValidator, PropertiesRequiredAndAdditionalProperties) {
  const Schema schema = compiled(
      "{type: object, required: [a, b], additionalProperties: false,"
      " properties: {a: {type: integer}, b: {}, c: {type: object, properties: {d: {type: "
      "boolean}}}}}");
  EXPECT_EQ(check(schema, R"({"a":1,"b":null})"), "ok");
  EXPECT_EQ(check(schema, R"({"b":[],"a":1,"c":{"d":true,"other":1}})"), "ok");
  EXPECT_EQ(check(schema, R"({"a":1})"),
            "required /b | payload: the required property `b` is missing");
  EXPECT_EQ(check(schema, R"({})"), "required /a | payload: the required property `a` is missing");
  EXPECT_EQ(check(schema, R"({"a":1,"b":2,"z":3})"),
            "additionalProperties /z | payload/z: this property is not allowed (the schema lists "
            "the allowed ones)");
  EXPECT_EQ(check(schema, R"({"a":1,"b":2,"c":{"d":"yes"}})"),
            "type /c/d | payload/c/d: expected a boolean, got a string");
  // The first failure in document order.
  EXPECT_EQ(check(schema, R"({"a":"x","z":1})"),
            "type /a | payload/a: expected an integer, got a string");
}

TEST(SchemaValidator, PathsEscapeTildeAndSlash) {
  const Schema schema = compiled(
      "{properties: {\"a/b\": {properties: {\"m~n\": {type: string}}}, \"\": {type: string}}}");
  EXPECT_EQ(check(schema, R"({"a/b":{"m~n":1}})"),
            "type /a~1b/m~0n | payload/a~1b/m~0n: expected a string, got a number");
  EXPECT_EQ(check(schema, R"({"":1})"), "type / | payload/: expected a string, got a number");
  std::string pointer;
  append_pointer_token(pointer, "~/~1");
  EXPECT_EQ(pointer, "/~0~1~01");
}

TEST(SchemaValidator, AMissingPayloadIsCheckedAsNull) {
  EXPECT_EQ(validate_missing_payload(compiled("{}")), std::nullopt);
  EXPECT_EQ(validate_missing_payload(compiled("{type: [object, \"null\"]}")), std::nullopt);
  const auto violation = validate_missing_payload(compiled(kSpecSchema));
  ASSERT_TRUE(violation);
  EXPECT_EQ(violation->rule, "type");
  EXPECT_EQ(violation->message, "payload: expected an object, got null");
}

TEST(SchemaValidator, DeepPayloadsCostNoRecursionBeyondTheSchema) {
  // 1000 levels of nesting under a member the schema does not describe: never walked.
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "[";
  for (int i = 0; i < 1000; ++i) deep += "]";
  const Schema schema = compiled(kSpecSchema);
  EXPECT_EQ(check(schema, R"({"message":"hi","deep":)" + deep + "}"), "ok");
  const Schema arrays = compiled("{items: {items: {type: array}}}");
  EXPECT_EQ(check(arrays, deep), "ok");
}

}  // namespace
}  // namespace dispatch::schema
