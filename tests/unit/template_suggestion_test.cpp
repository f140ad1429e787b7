// A template with several mistakes reports each one (bounded per template), and every "did you
// mean" it gives names a placeholder that compiles where the mistake is; when nothing valid is
// close it lists the valid placeholders instead.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "template/placeholder_suggestion.h"
#include "template/template.h"
#include "template/template_compiler.h"

namespace dispatch::tmpl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<TemplateError> errors_of(std::string_view source, ParamKind kind,
                                     bool allow_room_id = false) {
  CompileOptions options;
  options.allow_room_id = allow_room_id;
  std::vector<TemplateError> errors;
  EXPECT_FALSE(Template::compile(source, kind, options, errors)) << source;
  return errors;
}

// The placeholders that the messages suggest ("did you mean {X}?").
std::vector<std::string> suggested(const std::vector<TemplateError>& errors) {
  std::vector<std::string> placeholders;
  for (const TemplateError& error : errors) {
    const std::size_t at = error.message.find("did you mean {");
    if (at == std::string::npos) continue;
    const std::size_t start = at + std::string_view("did you mean ").size();
    const std::size_t end = error.message.find("}?", start);
    if (end == std::string::npos) continue;
    placeholders.push_back(error.message.substr(start, end + 1 - start));
  }
  return placeholders;
}

bool compiles(std::string_view source, bool allow_room_id) {
  CompileOptions options;
  options.allow_room_id = allow_room_id;
  std::vector<TemplateError> errors;
  return Template::compile(source, ParamKind::text, options, errors).has_value();
}

TEST(TemplateMistakes, EachPlaceholderMistakeIsItsOwnErrorAtItsOffset) {
  const std::vector<TemplateError> errors =
      errors_of(R"({"a": "{payload.x}", "b": "{user.name}"})", ParamKind::json);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].offset, 7u);
  EXPECT_THAT(errors[0].message, HasSubstr("`{payload.x}` is not a placeholder"));
  EXPECT_THAT(errors[0].message, HasSubstr("did you mean {.payload.x}?"));
  EXPECT_EQ(errors[1].offset, 27u);
  EXPECT_THAT(errors[1].message, HasSubstr("`{user.name}` is not a placeholder"));
  EXPECT_THAT(errors[1].message, ::testing::Not(HasSubstr("offset")));

  // Unknown, misspelt and unterminated placeholders in one text template: all three.
  const std::vector<TemplateError> mixed = errors_of("{$foo} {user.id} {$conn.id", ParamKind::text);
  ASSERT_EQ(mixed.size(), 3u);
  EXPECT_EQ(mixed[0].offset, 0u);
  EXPECT_EQ(mixed[1].offset, 7u);
  EXPECT_EQ(mixed[2].offset, 17u);
  EXPECT_THAT(mixed[2].message, HasSubstr("unterminated"));
}

TEST(TemplateMistakes, AJsonErrorIsReportedWithThePlaceholderMistakes) {
  const std::vector<TemplateError> errors =
      errors_of(R"({"a": "{$usr.id}", "n": {payload.n}, "b" 1})", ParamKind::json);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].offset, 7u);
  EXPECT_EQ(errors[1].offset, 24u);
  EXPECT_EQ(errors[2].offset, 41u);
  EXPECT_THAT(errors[2].message, HasSubstr("not a valid JSON document"));
  // An unterminated placeholder outside strings leaves the JSON check meaningless: not run.
  EXPECT_EQ(errors_of(R"({"a": {$user.id "b": 1})", ParamKind::json).size(), 1u);
}

TEST(TemplateMistakes, AtMostTenPerTemplateThenHowManyMore) {
  std::string source;
  for (int i = 0; i < 13; ++i) source += "{$a}";
  const std::vector<TemplateError> errors = errors_of(source, ParamKind::text);
  ASSERT_EQ(errors.size(), kMaxTemplateErrors + 1);
  EXPECT_EQ(errors[9].offset, 36u);
  EXPECT_EQ(errors.back().offset, 40u);  // the first left out
  EXPECT_EQ(errors.back().message, "and 3 more mistakes in this template, the first here");
}

TEST(TemplateMistakes, AUserFieldSuggestsTheUserIdOrTheTokenClaim) {
  EXPECT_THAT(suggested(errors_of("{user.name}", ParamKind::text)), ElementsAre("{$token.name}"));
  EXPECT_THAT(suggested(errors_of("{$user.name}", ParamKind::text)), ElementsAre("{$token.name}"));
  EXPECT_THAT(errors_of("{$user.name}", ParamKind::text)[0].message,
              HasSubstr("the token's `name` claim; the user's id is {$user.id}"));
  EXPECT_THAT(suggested(errors_of("{$user.ID} {$user.uid} {$user.sub} {$user}", ParamKind::text)),
              ElementsAre("{$user.id}", "{$user.id}", "{$user.id}", "{$user.id}"));
  EXPECT_THAT(
      suggested(errors_of("{$usr.id} {$evnt.name} {$payload.a} {$tokn.org}", ParamKind::text)),
      ElementsAre("{$user.id}", "{$event.name}", "{.payload.a}", "{$token.org}"));
}

TEST(TemplateMistakes, WithNothingCloseTheValidPlaceholdersAreListed) {
  for (const char* source : {"{$foo}", "{conn.ip}", "{$event.id}", "{$room.id}", "{ $x }"}) {
    const std::vector<TemplateError> errors = errors_of(source, ParamKind::text);
    ASSERT_EQ(errors.size(), 1u) << source;
    EXPECT_THAT(suggested(errors), IsEmpty()) << source;
    EXPECT_THAT(errors[0].message, HasSubstr("valid placeholders are {$user.id}, ")) << source;
  }
  EXPECT_THAT(errors_of("{$room.id}", ParamKind::text)[0].message,
              HasSubstr("only in hooks.on_join and hooks.on_leave"));
  // Where {$room.id} is allowed, it is suggested and listed.
  EXPECT_THAT(suggested(errors_of("{$rom.id}", ParamKind::text, true)), ElementsAre("{$room.id}"));
  EXPECT_THAT(errors_of("{$foo}", ParamKind::text, true)[0].message, HasSubstr("{$room.id}"));
}

// Typos of every kind: each suggestion the compiler makes compiles, with and without
// {$room.id}; fed back in place of the typo, the template compiles.
TEST(TemplateMistakes, EverySuggestionCompiles) {
  const std::vector<std::string> typos = {
      "{user.name}",   "{user.id}",     "{user.ID}",      "{user.email}",   "{user.a.b}",
      "{user}",        "{payload.x}",   "{payload}",      "{payload.a.0}",  "{msg.body}",
      "{token.org}",   "{conn.id}",     "{conn.ip}",      "{target.id}",    "{target.name}",
      "{event.name}",  "{event.nam}",   "{event.id}",     "{room.id}",      "{room.name}",
      "{ $user.id }",  "{ $user.nme }", "{ .payload.x }", "{ $payload.x }", "{ .a..b }",
      "{ $ }",         "{ . }",         "{$user.name}",   "{$user}",        "{$usr.id}",
      "{$uesr.id}",    "{$user.sub}",   "{$User.Id}",     "{$conn}",        "{$con.id}",
      "{$conn.ID}",    "{$target}",     "{$taget.id}",    "{$event}",       "{$evnt.name}",
      "{$event.Name}", "{$room}",       "{$rom.id}",      "{$room.ID}",     "{$token}",
      "{$token.}",     "{$tokn.org}",   "{$payload}",     "{$payload.x}",   "{$paylod.x.y}",
      "{$payload..x}", "{$}",           "{$foo}",         "{$foo.bar}",     "{$id}",
      "{.a..b}",       "{.a.}",         "{.payload.}",    "{..}",           "{$user.na-me}",
  };
  int suggestions = 0;
  for (bool allow_room_id : {false, true}) {
    for (const std::string& typo : typos) {
      for (ParamKind kind : {ParamKind::text, ParamKind::json}) {
        const std::string source = kind == ParamKind::json ? "{\"v\": \"" + typo + "\"}" : typo;
        CompileOptions options;
        options.allow_room_id = allow_room_id;
        std::vector<TemplateError> errors;
        if (Template::compile(source, kind, options, errors)) continue;  // e.g. {$room.id}
        for (const std::string& suggestion : suggested(errors)) {
          ++suggestions;
          EXPECT_TRUE(compiles(suggestion, allow_room_id))
              << typo << " -> " << suggestion << (allow_room_id ? " (room hooks)" : "");
          std::string fixed = source;
          fixed.replace(fixed.find(typo), typo.size(), suggestion);
          std::vector<TemplateError> fixed_errors;
          EXPECT_TRUE(Template::compile(fixed, kind, options, fixed_errors))
              << typo << " -> " << fixed;
        }
      }
    }
  }
  EXPECT_GT(suggestions, 100);
  // And the suggestion function itself, over bodies as meant.
  for (const std::string& typo : typos) {
    std::string body = typo.substr(1, typo.size() - 2);
    body.erase(0, body.find_first_not_of(' '));
    body.erase(body.find_last_not_of(' ') + 1);
    for (const std::string& meant : {body, "$" + body, "." + body}) {
      for (bool allow_room_id : {false, true}) {
        if (const auto suggestion = suggest_placeholder(meant, allow_room_id)) {
          EXPECT_TRUE(compiles(suggestion->placeholder, allow_room_id))
              << meant << " -> " << suggestion->placeholder;
        }
      }
    }
  }
}

}  // namespace
}  // namespace dispatch::tmpl
