// Tests of append_json_escaped (src/template/json_escape.h).
#include <gtest/gtest.h>

#include <string>

#include "template/json_escape.h"

namespace dispatch::tmpl {
namespace {

std::string escaped(std::string_view text) {
  std::string out = "<";
  append_json_escaped(out, text);
  return out;
}

TEST(JsonEscape, ShortEscapes) {
  EXPECT_EQ(escaped("\"\\\b\f\n\r\t"), R"(<\"\\\b\f\n\r\t)");
}

TEST(JsonEscape, OtherControlCharactersAsUnicodeEscapes) {
  EXPECT_EQ(escaped(std::string("\0\x01\x0b\x1f", 4)), R"(<\u0000\u0001\u000b\u001f)");
}

TEST(JsonEscape, EverythingElsePassesThrough) {
  EXPECT_EQ(escaped("plain / text ' \x7f"), "<plain / text ' \x7f");
  EXPECT_EQ(escaped("h\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"),
            "<h\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
  EXPECT_EQ(escaped(""), "<");
}

TEST(JsonEscape, MixedRuns) {
  EXPECT_EQ(escaped("a\"bc\ndef\\"), R"(<a\"bc\ndef\\)");
}

}  // namespace
}  // namespace dispatch::tmpl
