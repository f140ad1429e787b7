// Tests of template compilation and filling (src/template).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "template/template.h"

namespace dispatch::tmpl {
namespace {

using namespace std::string_literals;

// Values by key: "$user.id", "$conn.id", "$target.id", "$event.name", "$room.id",
// "$token.<claim>", and "payload<json pointer>" (so "payload" is the whole payload). Keys are
// built from the placeholder's source, claim and json_pointer, not from `field`, so the parsed
// placeholder is checked too.
class MapScope : public TemplateScope {
 public:
  MapScope& string(const std::string& key, std::string text) {
    values_[key] = {true, std::move(text)};
    return *this;
  }
  MapScope& json(const std::string& key, std::string text) {
    values_[key] = {false, std::move(text)};
    return *this;
  }

  bool resolve(const Placeholder& placeholder, ResolvedValue& out) override {
    const auto found = values_.find(key_of(placeholder));
    if (found == values_.end()) return false;
    out.is_string = found->second.is_string;
    out.text = found->second.text;
    return true;
  }

 private:
  struct Value {
    bool is_string;
    std::string text;
  };

  static std::string key_of(const Placeholder& placeholder) {
    switch (placeholder.source) {
      case Source::user_id:
        return "$user.id";
      case Source::conn_id:
        return "$conn.id";
      case Source::target_id:
        return "$target.id";
      case Source::event_name:
        return "$event.name";
      case Source::room_id:
        return "$room.id";
      case Source::claim:
        return "$token." + placeholder.claim;
      case Source::payload:
        return "payload" + placeholder.json_pointer;
    }
    return "";
  }

  std::map<std::string, Value> values_;
};

MapScope alice_scope() {
  MapScope scope;
  scope.string("$user.id", "alice")
      .string("$conn.id", "n1-7")
      .string("$target.id", "room:global")
      .string("$event.name", "join_room")
      .string("$token.org", "acme");
  return scope;
}

// Each error as "message (at offset N)", one a line.
std::string described(const std::vector<TemplateError>& errors) {
  std::string text;
  for (const TemplateError& error : errors) text += with_offset(error) + "\n";
  return text;
}

Template compile_ok(std::string_view source, ParamKind kind, CompileOptions options = {}) {
  std::vector<TemplateError> errors;
  std::optional<Template> compiled = Template::compile(source, kind, options, errors);
  EXPECT_TRUE(compiled.has_value()) << source << ": " << described(errors);
  if (compiled) return std::move(*compiled);
  // Keep running the other tests: a literal that no expected output matches.
  return *Template::compile("<did not compile>", ParamKind::text, {}, errors);
}

std::vector<TemplateError> compile_errors(std::string_view source, ParamKind kind,
                                          CompileOptions options = {}) {
  std::vector<TemplateError> errors;
  std::optional<Template> compiled = Template::compile(source, kind, options, errors);
  EXPECT_FALSE(compiled.has_value()) << source << " compiled but should not";
  EXPECT_FALSE(errors.empty());
  return errors;
}

// The errors as "message (at offset N)" lines.
std::string compile_error(std::string_view source, ParamKind kind, CompileOptions options = {}) {
  return described(compile_errors(source, kind, options));
}

std::string fill_ok(const Template& compiled, TemplateScope& scope) {
  std::string out;
  std::string missing;
  EXPECT_TRUE(compiled.fill(scope, out, &missing)) << compiled.source() << " missing " << missing;
  return out;
}

std::string fill_ok(std::string_view source, ParamKind kind, TemplateScope& scope) {
  return fill_ok(compile_ok(source, kind), scope);
}

// ---- name and text params ----

TEST(TemplateText, EveryNamedPlaceholder) {
  MapScope scope = alice_scope();
  EXPECT_EQ(fill_ok("{$user.id}|{$conn.id}|{$target.id}|{$event.name}|{$token.org}",
                    ParamKind::text, scope),
            "alice|n1-7|room:global|join_room|acme");
}

TEST(TemplateText, PlaceholderFields) {
  const Template compiled =
      compile_ok("{$user.id}{$conn.id}{$target.id}{$event.name}{$token.org}{.payload}{.a.0.b}",
                 ParamKind::name);
  const std::vector<Placeholder>& placeholders = compiled.placeholders();
  ASSERT_EQ(placeholders.size(), 7u);
  EXPECT_EQ(placeholders[0].source, Source::user_id);
  EXPECT_EQ(placeholders[0].field, "user.id");
  EXPECT_EQ(placeholders[1].source, Source::conn_id);
  EXPECT_EQ(placeholders[2].source, Source::target_id);
  EXPECT_EQ(placeholders[3].source, Source::event_name);
  EXPECT_EQ(placeholders[4].source, Source::claim);
  EXPECT_EQ(placeholders[4].claim, "org");
  EXPECT_EQ(placeholders[4].field, "token.org");
  EXPECT_EQ(placeholders[5].source, Source::payload);
  EXPECT_TRUE(placeholders[5].path.empty());
  EXPECT_EQ(placeholders[5].json_pointer, "");
  EXPECT_EQ(placeholders[5].field, "payload");
  EXPECT_EQ(placeholders[6].path, (std::vector<std::string>{"a", "0", "b"}));
  EXPECT_EQ(placeholders[6].json_pointer, "/a/0/b");
  EXPECT_EQ(placeholders[6].field, "payload.a.0.b");
  EXPECT_FALSE(placeholders[6].inside_string);
}

TEST(TemplateText, PayloadLongAndShortFormsAreTheSame) {
  const Template long_form = compile_ok("{.payload.user.name}", ParamKind::name);
  const Template short_form = compile_ok("{.user.name}", ParamKind::name);
  EXPECT_EQ(long_form.placeholders()[0].path, short_form.placeholders()[0].path);
  EXPECT_EQ(long_form.placeholders()[0].field, "payload.user.name");
  EXPECT_EQ(short_form.placeholders()[0].field, "payload.user.name");
  MapScope scope;
  scope.string("payload/user/name", "Bob");
  EXPECT_EQ(fill_ok(long_form, scope), "Bob");
  EXPECT_EQ(fill_ok(short_form, scope), "Bob");
  // A key named "payload" inside the payload is reached with the long form.
  EXPECT_EQ(compile_ok("{.payload.payload}", ParamKind::name).placeholders()[0].json_pointer,
            "/payload");
}

TEST(TemplateText, PointerEscapesTildeAndSlash) {
  const Template compiled = compile_ok("{.a/b.c~d}", ParamKind::name);
  EXPECT_EQ(compiled.placeholders()[0].json_pointer, "/a~1b/c~0d");
}

TEST(TemplateText, ArrayIndexPathResolvesWithSimdjson) {
  // The compiled pointer is what an engine hands to simdjson.
  const Template compiled = compile_ok("{.items.1.tags.0}", ParamKind::name);
  simdjson::dom::parser parser;
  simdjson::dom::element payload =
      parser.parse(std::string_view(R"({"items":[{"tags":["x"]},{"tags":["first","second"]}]})"));
  std::string_view found;
  ASSERT_EQ(payload.at_pointer(compiled.placeholders()[0].json_pointer).get(found),
            simdjson::SUCCESS);
  EXPECT_EQ(found, "first");
}

TEST(TemplateText, NonStringValuesAsCompactJsonText) {
  MapScope scope;
  scope.json("payload/n", "42").json("payload/ok", "true").json("payload", R"({"n":42,"ok":true})");
  EXPECT_EQ(fill_ok("n={.n} ok={.ok} all={.payload}", ParamKind::text, scope),
            R"(n=42 ok=true all={"n":42,"ok":true})");
}

TEST(TemplateText, StringsAreInsertedRaw) {
  MapScope scope;
  scope.string("payload/m", "say \"hi\"\n\\");
  EXPECT_EQ(fill_ok("<{.m}>", ParamKind::text, scope), "<say \"hi\"\n\\>");
}

TEST(TemplateText, RoomIdOnlyWhenAllowed) {
  std::string error = compile_error("{$room.id}", ParamKind::name);
  EXPECT_NE(error.find("{$room.id}"), std::string::npos) << error;
  CompileOptions hook_options;
  hook_options.allow_room_id = true;
  const Template compiled = compile_ok("{$room.id}", ParamKind::name, hook_options);
  EXPECT_EQ(compiled.placeholders()[0].source, Source::room_id);
  MapScope scope;
  scope.string("$room.id", "lobby");
  EXPECT_EQ(fill_ok(compiled, scope), "lobby");
}

TEST(TemplateText, BraceEscapes) {
  MapScope scope = alice_scope();
  EXPECT_EQ(fill_ok("{{literal}} {$user.id} }} {", ParamKind::text, scope), "{literal} alice } {");
  EXPECT_EQ(fill_ok("{{$user.id}}", ParamKind::text, scope), "{$user.id}");
  EXPECT_EQ(fill_ok("{{{$user.id}}}", ParamKind::text, scope), "{alice}");
  // Braces that start no placeholder are literal (lenient), except placeholder-like ones such as
  // `{ $x }` (TemplateErrors.MisspeltPlaceholderSaysWhatWasMeant).
  EXPECT_EQ(fill_ok("a{b}c {} {...} { x } }", ParamKind::text, scope), "a{b}c {} {...} { x } }");
  EXPECT_EQ(fill_ok("{{ $x }}", ParamKind::text, scope), "{ $x }");
}

TEST(TemplateText, LiteralTemplate) {
  const Template compiled = compile_ok("chat {{x}}", ParamKind::name);
  EXPECT_TRUE(compiled.is_literal());
  EXPECT_EQ(compiled.literal_text(), "chat {x}");
  EXPECT_EQ(compiled.source(), "chat {{x}}");
  EXPECT_FALSE(compile_ok("a{$user.id}", ParamKind::name).is_literal());
  EXPECT_TRUE(compile_ok("", ParamKind::text).is_literal());
}

TEST(TemplateText, FillAppendsToExistingText) {
  MapScope scope = alice_scope();
  std::string out = "prefix:";
  EXPECT_TRUE(compile_ok("{$user.id}!", ParamKind::name).fill(scope, out, nullptr));
  EXPECT_EQ(out, "prefix:alice!");
}

TEST(TemplateText, MissingValueReportsFieldAndRestoresOutput) {
  MapScope scope = alice_scope();
  const Template compiled = compile_ok("{$user.id} says {.payload.name}", ParamKind::text);
  std::string out = "keep";
  std::string missing;
  EXPECT_FALSE(compiled.fill(scope, out, &missing));
  EXPECT_EQ(missing, "payload.name");
  EXPECT_EQ(out, "keep");

  missing.clear();
  EXPECT_FALSE(compile_ok("{$token.role}", ParamKind::name).fill(scope, out, &missing));
  EXPECT_EQ(missing, "token.role");
  missing.clear();
  EXPECT_FALSE(compile_ok("{.a.0}", ParamKind::name).fill(scope, out, &missing));
  EXPECT_EQ(missing, "payload.a.0");
  EXPECT_FALSE(compile_ok("{.x}", ParamKind::json).fill(scope, out, nullptr));
  EXPECT_EQ(out, "keep");
}

// ---- json params ----

// Parses `text` as a JSON object and returns its keys in order (fails the test if invalid).
std::vector<std::string> object_keys(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  std::vector<std::string> keys;
  const simdjson::error_code code = parser.parse(text).get(object);
  EXPECT_EQ(code, simdjson::SUCCESS) << text;
  if (code != simdjson::SUCCESS) return keys;
  for (auto field : object) keys.emplace_back(field.key);
  return keys;
}

std::string string_member(const std::string& text, const char* key) {
  simdjson::dom::parser parser;
  std::string_view value;
  EXPECT_EQ(parser.parse(text)[key].get(value), simdjson::SUCCESS) << text;
  return std::string(value);
}

TEST(TemplateJson, CompatTemplatesProduceTheDocumentedFrames) {
  MapScope scope = alice_scope();
  scope.string("payload/name", "Alice").string("payload/message", "hello all");
  EXPECT_EQ(fill_ok(R"({"user": {"id":"{$user.id}", "name": "{.payload.name}"}})", ParamKind::json,
                    scope),
            R"({"user":{"id":"alice","name":"Alice"}})");
  EXPECT_EQ(fill_ok(R"({"room": "{$target.id}", "status": "ok"})", ParamKind::json, scope),
            R"({"room":"room:global","status":"ok"})");
  EXPECT_EQ(
      fill_ok(R"({"user": "{$user.id}", "message": "{.payload.message}"})", ParamKind::json, scope),
      R"({"user":"alice","message":"hello all"})");
  EXPECT_EQ(fill_ok(R"({"user": "{$user.id}", "room": "{$target.id}"})", ParamKind::json, scope),
            R"({"user":"alice","room":"room:global"})");
  EXPECT_EQ(fill_ok("User {$user.id} joined room {$target.id}", ParamKind::text, scope),
            "User alice joined room room:global");
  EXPECT_EQ(fill_ok("user_joined", ParamKind::name, scope), "user_joined");
}

TEST(TemplateJson, InStringValuesAreEscaped) {
  const Template compiled =
      compile_ok(R"({"user": "{$user.id}", "message": "{.payload.message}"})", ParamKind::json);
  EXPECT_TRUE(compiled.placeholders()[1].inside_string);
  const std::vector<std::string> messages = {
      "say \"hi\"",
      "back\\slash \\\" \\u0041",
      "line one\nline two\r\n\ttabbed",
      "nul \0 bell \x07 esc \x1b unit \x1f del \x7f"s,
      "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80",
      "x\", \"user\": \"admin",
      "}\"}, \"extra\": {\"",
      "{$user.id} {{ }}",
  };
  for (const std::string& message : messages) {
    MapScope scope = alice_scope();
    scope.string("payload/message", message);
    const std::string out = fill_ok(compiled, scope);
    EXPECT_EQ(object_keys(out), (std::vector<std::string>{"user", "message"})) << out;
    EXPECT_EQ(string_member(out, "message"), message) << out;
    EXPECT_EQ(string_member(out, "user"), "alice") << out;
  }
}

TEST(TemplateJson, KeyInjectionStaysOneString) {
  MapScope scope;
  scope.string("payload/message", "x\", \"user\": \"admin");
  const std::string out = fill_ok(R"({"m": "{.payload.message}"})", ParamKind::json, scope);
  EXPECT_EQ(out, R"({"m":"x\", \"user\": \"admin"})");
  EXPECT_EQ(object_keys(out), std::vector<std::string>{"m"});
}

TEST(TemplateJson, ExactEscapes) {
  MapScope scope;
  scope.string("payload/s", "q\" b\\ n\n t\t c\x01 \xc3\xa9"s);
  EXPECT_EQ(fill_ok(R"(["{.s}"])", ParamKind::json, scope),
            "[\"q\\\" b\\\\ n\\n t\\t c\\u0001 \xc3\xa9\"]");
}

TEST(TemplateJson, WholeValuesKeepTheirType) {
  MapScope scope;
  scope.json("payload/count", "42")
      .json("payload/flag", "true")
      .json("payload/none", "null")
      .json("payload/obj", R"({"k":[1,"v"]})")
      .json("payload/arr", "[1,2.5,-3]")
      .string("payload/str", "hi \"x\"\n")
      .json("payload", R"({"count":42})");
  const Template compiled = compile_ok(
      R"({"n": {.count}, "b": {.flag}, "z": {.none}, "o": {.obj}, "a": {.arr}, "s": {.str}, )"
      R"("p": {.payload}, "l": [{.count}, {.str}]})",
      ParamKind::json);
  EXPECT_FALSE(compiled.placeholders()[0].inside_string);
  const std::string out = fill_ok(compiled, scope);
  EXPECT_EQ(out, R"({"n":42,"b":true,"z":null,"o":{"k":[1,"v"]},"a":[1,2.5,-3],"s":"hi \"x\"\n",)"
                 R"("p":{"count":42},"l":[42,"hi \"x\"\n"]})");
  EXPECT_EQ(object_keys(out), (std::vector<std::string>{"n", "b", "z", "o", "a", "s", "p", "l"}));
}

TEST(TemplateJson, WholeDocumentPlaceholder) {
  MapScope scope;
  scope.json("payload", R"({"a":1})");
  EXPECT_EQ(fill_ok("{.payload}", ParamKind::json, scope), R"({"a":1})");
  EXPECT_EQ(fill_ok("  {.payload}  ", ParamKind::json, scope), R"({"a":1})");
  scope.string("payload", "text");
  EXPECT_EQ(fill_ok("{.payload}", ParamKind::json, scope), R"("text")");
}

TEST(TemplateJson, ObjectsInsideStringsBecomeEscapedJsonText) {
  MapScope scope;
  scope.json("payload/obj", R"({"k":"v","n":[1]})").json("payload/n", "7");
  const std::string out = fill_ok(R"({"m": "got {.obj}", "c": "n={.n}"})", ParamKind::json, scope);
  EXPECT_EQ(out, R"({"m":"got {\"k\":\"v\",\"n\":[1]}","c":"n=7"})");
  EXPECT_EQ(string_member(out, "m"), R"(got {"k":"v","n":[1]})");
}

TEST(TemplateJson, BracesInsideStrings) {
  MapScope scope = alice_scope();
  EXPECT_EQ(fill_ok(R"({"m": "{{literal}} {$user.id} }} { } {...}"})", ParamKind::json, scope),
            R"({"m":"{literal} alice } { } {...}"})");
  EXPECT_EQ(fill_ok(R"({"m": "{{$user.id}}"})", ParamKind::json, scope), R"({"m":"{$user.id}"})");
}

TEST(TemplateJson, EscapesInTheTemplateArePreserved) {
  MapScope scope = alice_scope();
  EXPECT_EQ(fill_ok(R"({"a": "q\"{$user.id}\\", "b\"{": "\u00e9 \/"})", ParamKind::json, scope),
            R"({"a":"q\"alice\\","b\"{":"\u00e9 \/"})");
}

TEST(TemplateJson, LiteralDocumentIsCompacted) {
  const Template compiled =
      compile_ok("{ \"a\" : [ 1 , 2 ],\n\t\"b\" : \"x  y\" }", ParamKind::json);
  EXPECT_TRUE(compiled.is_literal());
  EXPECT_EQ(compiled.literal_text(), R"({"a":[1,2],"b":"x  y"})");
}

// ---- compile errors ----

TEST(TemplateErrors, UnknownNameListsTheValidOnes) {
  const std::string error = compile_error("hi {$foo}", ParamKind::text);
  EXPECT_NE(error.find("{$foo}"), std::string::npos) << error;
  EXPECT_NE(error.find("{$user.id}"), std::string::npos) << error;
  EXPECT_NE(error.find("{$token.<claim>}"), std::string::npos) << error;
  EXPECT_NE(error.find("offset 3"), std::string::npos) << error;
  EXPECT_EQ(error.find("{$room.id},"), std::string::npos) << error;
  compile_error(R"({"a": "{$user.name}"})", ParamKind::json);
  compile_error("{$user}", ParamKind::name);
  compile_error("{$}", ParamKind::name);
  EXPECT_NE(compile_error("{$token.}", ParamKind::name).find("claim"), std::string::npos);
}

TEST(TemplateErrors, UnterminatedPlaceholder) {
  std::string error = compile_error("hi {$user.id", ParamKind::text);
  EXPECT_NE(error.find("unterminated"), std::string::npos) << error;
  EXPECT_NE(error.find("offset 3"), std::string::npos) << error;
  EXPECT_NE(error.find("{$user.id"), std::string::npos) << error;
  error = compile_error(R"({"a": "{.payload.name"})", ParamKind::json);
  EXPECT_NE(error.find("unterminated"), std::string::npos) << error;
  EXPECT_NE(error.find("offset 7"), std::string::npos) << error;
  compile_error("{.name is here}", ParamKind::text);
}

// A `{` that looks like a placeholder written wrongly is an error naming what was meant, instead
// of text the server would send as it is.
TEST(TemplateErrors, MisspeltPlaceholderSaysWhatWasMeant) {
  struct Case {
    const char* source;
    ParamKind kind;
    const char* meant;
    std::size_t offset;
  };
  const Case cases[] = {
      {R"({"a": "{payload.x}"})", ParamKind::json, "{.payload.x}", 7},
      {R"({"b": "{ $user.id }"})", ParamKind::json, "{$user.id}", 7},
      {R"({"b": "x {user.id}"})", ParamKind::json, "{$user.id}", 9},
      {R"({"n": {payload.count}})", ParamKind::json, "{.payload.count}", 6},
      {"hi {token.org}", ParamKind::text, "{$token.org}", 3},
      {"{ .payload.x}", ParamKind::name, "{.payload.x}", 0},
      {"{ $payload.x }", ParamKind::text, "{.payload.x}", 0},
      {"{payload}", ParamKind::text, "{.payload}", 0},
      {"{msg.body}", ParamKind::text, "{.msg.body}", 0},
  };
  for (const Case& c : cases) {
    const std::string error = compile_error(c.source, c.kind);
    EXPECT_NE(error.find(std::string("did you mean ") + c.meant + "?"), std::string::npos)
        << c.source << " -> " << error;
    EXPECT_NE(error.find("offset " + std::to_string(c.offset) + ")"), std::string::npos)
        << c.source << " -> " << error;
    EXPECT_NE(error.find("{{"), std::string::npos) << error;
  }
  const std::string error = compile_error("{$payload.x}", ParamKind::text);
  EXPECT_NE(error.find("did you mean {.payload.x}?"), std::string::npos) << error;
}

// JSON text, prose and escaped braces stay literal.
TEST(TemplateText, BracesThatAreNotPlaceholderLikeStayLiteral) {
  MapScope scope = alice_scope();
  EXPECT_EQ(fill_ok(R"({"raw": "{\"k\": 1} { \"k\": 2 } {} {name} {1.5} {{payload.x}}"})",
                    ParamKind::json, scope),
            R"({"raw":"{\"k\": 1} { \"k\": 2 } {} {name} {1.5} {payload.x}"})");
  EXPECT_EQ(fill_ok("set {a, b} {{user.id}} { x.y", ParamKind::text, scope),
            "set {a, b} {user.id} { x.y");
  EXPECT_EQ(fill_ok(R"({ "a": { "b": {}} })", ParamKind::json, scope), R"({"a":{"b":{}}})");
}

TEST(TemplateErrors, EmptyPathSegment) {
  EXPECT_NE(compile_error("{.a..b}", ParamKind::name).find("empty path segment"),
            std::string::npos);
  compile_error("{.a.}", ParamKind::name);
  compile_error("{.payload.}", ParamKind::name);
}

TEST(TemplateErrors, InvalidJsonGivesTheOffset) {
  struct Case {
    const char* source;
    std::size_t offset;
  };
  const Case cases[] = {
      {R"({"a": 1,})", 8},        {R"({"a": {.x},  "b" 1})", 17},
      {R"({"a": {.x}{.y}})", 10}, {R"({"a": "b")", 9},
      {R"({"a": "b"} x)", 11},    {R"({{"a": 1}})", 1},
      {R"({"a": "\q"})", 8},      {R"({"a": tru})", 6},
      {R"({"a": 01})", 7},        {"", 0},
  };
  for (const Case& c : cases) {
    const std::string error = compile_error(c.source, ParamKind::json);
    EXPECT_NE(error.find("offset " + std::to_string(c.offset) + ")"), std::string::npos)
        << c.source << " -> " << error;
  }
  // A control character inside a string, and invalid UTF-8 (caught by simdjson).
  compile_error("{\"a\": \"x\ny\"}", ParamKind::json);
  compile_error("{\"a\": \"\xff\"}", ParamKind::json);
  // A placeholder cannot be an object key outside a string.
  compile_error(R"({{$user.id}: 1})", ParamKind::json);
}

TEST(TemplateErrors, EventNameRules) {
  const CompileOptions options = CompileOptions::event_name();
  for (const char* reserved : {"welcome", "ack", "error"}) {
    const std::string error = compile_error(reserved, ParamKind::name, options);
    EXPECT_NE(error.find("reserved"), std::string::npos) << error;
  }
  const std::string error = compile_error("chat_{$user.id}", ParamKind::name, options);
  EXPECT_NE(error.find("literal"), std::string::npos) << error;
  const Template compiled = compile_ok("user_joined", ParamKind::name, options);
  EXPECT_EQ(compiled.literal_text(), "user_joined");
  compile_ok("errors", ParamKind::name, options);
  compile_ok("Welcome", ParamKind::name, options);
  // Without the options the same names compile.
  compile_ok("error", ParamKind::name);
  compile_ok("chat_{$user.id}", ParamKind::name);
}

// ---- what templates use ----

TEST(TemplateUsage, CollectClaims) {
  std::set<std::string> claims;
  collect_claims(compile_ok("{$token.org}/{$token.role}", ParamKind::name), claims);
  collect_claims(
      compile_ok(R"({"o": "{$token.org}", "u": {$token.https://x.io/roles}})", ParamKind::json),
      claims);
  collect_claims(compile_ok("{$user.id} {.org}", ParamKind::text), claims);
  EXPECT_EQ(claims, (std::set<std::string>{"org", "role", "https://x.io/roles"}));
}

TEST(TemplateUsage, UsesPayloadAndSources) {
  EXPECT_TRUE(uses_payload(compile_ok("{.a}", ParamKind::name)));
  EXPECT_TRUE(uses_payload(compile_ok(R"({"p": {.payload}})", ParamKind::json)));
  EXPECT_FALSE(uses_payload(compile_ok("{$user.id} {$token.payload}", ParamKind::name)));
  EXPECT_TRUE(uses_source(compile_ok("{$target.id}", ParamKind::name), Source::target_id));
  EXPECT_FALSE(uses_source(compile_ok("{$user.id}", ParamKind::name), Source::target_id));
}

TEST(TemplateCopy, CopiesFillIndependently) {
  std::optional<Template> original = compile_ok("a {$user.id} b", ParamKind::text);
  const Template copy = *original;
  original.reset();
  MapScope scope = alice_scope();
  EXPECT_EQ(fill_ok(copy, scope), "a alice b");
}

}  // namespace
}  // namespace dispatch::tmpl
