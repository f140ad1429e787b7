// The syntax of one placeholder: where it starts and ends in a template, and what its name means.
//
// A placeholder is `{$name}` or `{.path}`. `{$` always starts one; `{.` only when a path
// character follows, so text such as `{...}` stays literal. The body runs to the next `}` and may
// not contain whitespace, control characters, quotes, backslashes or braces: hitting one of
// those (or the end) first makes the placeholder unterminated.
//
// Any other `{` is literal text, except one that looks like a placeholder written wrongly: a
// dotted name (`{payload.x}`, `{user.id}`), `{payload}`, or a `$` or `.` placeholder after spaces
// (`{ $user.id }`). Those are errors saying what was probably meant; `{{` writes a literal brace.
// JSON text is never placeholder-like: an object opens with `{"`, `{}` or `{` and whitespace
// followed by `"` or `}`.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "template/placeholder.h"

namespace dispatch::tmpl {

// True when the `{` at `source[brace]` starts a placeholder.
bool starts_placeholder(std::string_view source, std::size_t brace);

// The index of the `}` closing the placeholder that starts at `source[brace]`, or
// std::string_view::npos when it is unterminated.
std::size_t find_placeholder_end(std::string_view source, std::size_t brace);

// A `{` that does not start a placeholder but looks like one written wrongly.
struct MisspeltPlaceholder {
  std::size_t end = 0;       // the index of its `}`
  std::string_view written;  // from the `{` to the `}`: "{payload.x}", "{ $user.id }"
  std::string meant_body;    // the body it was probably meant to have: ".payload.x", "$user.id"
  bool spaced = false;       // a `$` or `.` body with blanks around it inside the braces
};

// The misspelt placeholder whose `{` is at `source[brace]`, or nullopt when that `{` is literal
// text (or starts a placeholder). The meant body need not be valid: see placeholder_suggestion.h.
std::optional<MisspeltPlaceholder> find_misspelt_placeholder(std::string_view source,
                                                             std::size_t brace);

// Interprets a placeholder's body (the text between the braces, e.g. "$user.id" or
// ".payload.a.0"). `allow_room_id` admits `$room.id`. On error returns nullopt and sets `error`
// (which suggests nothing: placeholder_suggestion.h does).
std::optional<Placeholder> parse_placeholder(std::string_view body, bool allow_room_id,
                                             std::string& error);

// The names `{$name}` can take besides token claims ({$token.<claim>}): "user.id", "conn.id", ...
std::vector<std::string_view> named_placeholders(bool allow_room_id);

}  // namespace dispatch::tmpl
