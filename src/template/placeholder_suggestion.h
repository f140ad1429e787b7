// What to suggest for a placeholder written wrongly ({$user.name}, {payload.x}, { $conn.id }):
// only ever a placeholder that compiles where the mistake is, the one closest to what was
// written; when nothing valid is close, the list of valid placeholders instead.
//
// `{$R.F}` with R one of the named roots (user, conn, target, event, room) suggests R's own
// field when F is close to it (`{$user.ID}` -> `{$user.id}`); `{$user.F}` otherwise suggests the
// token claim F (`{$user.name}` -> `{$token.name}`), the only other thing known about a user.
// A root close to a known one is taken for it (`{$usr.id}` -> `{$user.id}`), `{$payload...}`
// becomes `{.payload...}`, and empty path segments are dropped (`{.a..b}` -> `{.a.b}`).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dispatch::tmpl {

struct PlaceholderSuggestion {
  std::string placeholder;  // with its braces, e.g. "{$token.name}"; always compiles
  std::string note;         // why it may be meant, or ""
};

// The suggestion for a body that did not compile (or was written wrongly, as the body meant:
// "$user.name", ".payload.x"), or nullopt when nothing valid is close.
std::optional<PlaceholderSuggestion> suggest_placeholder(std::string_view body, bool allow_room_id);

// "{$user.id}, {$conn.id}, ..., {.<path>}": every valid form.
std::string valid_placeholders(bool allow_room_id);

// The end of a message about `body`: ": did you mean {x} (note)?" when there is a suggestion,
// else "; valid placeholders are ...".
std::string placeholder_hint(std::string_view body, bool allow_room_id);

}  // namespace dispatch::tmpl
