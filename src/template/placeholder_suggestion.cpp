#include "template/placeholder_suggestion.h"

#include <algorithm>
#include <initializer_list>
#include <vector>

#include "template/placeholder_syntax.h"
#include "template/word_distance.h"

namespace dispatch::tmpl {
namespace {

constexpr std::string_view kPayloadRoot = "payload";
constexpr std::string_view kTokenRoot = "token";
constexpr std::string_view kUserRoot = "user";

// Case and `_`/`-` aside, within a third of the longer word's length: `ID` and `uid` are close
// to `id`, `ip` is not.
bool is_close(std::string_view written, std::string_view known) {
  const std::string a = normalized_word(written);
  const std::string b = normalized_word(known);
  return word_distance(a, b) <= std::max(a.size(), b.size()) / 3;
}

// The pieces one after another. Appended, not chains of operator+: GCC 12 at -O3 warns
// (-Wrestrict) on those.
std::string joined(std::initializer_list<std::string_view> pieces) {
  std::string text;
  for (std::string_view piece : pieces) text.append(piece);
  return text;
}

std::string_view root_of(std::string_view name) {
  return name.substr(0, name.find('.'));
}

std::optional<PlaceholderSuggestion> if_it_compiles(const std::string& body, bool allow_room_id,
                                                    std::string note = {}) {
  std::string ignored;
  if (!parse_placeholder(body, allow_room_id, ignored)) return std::nullopt;
  return PlaceholderSuggestion{joined({"{", body, "}"}), std::move(note)};
}

// A payload path without empty segments: "a..b." -> ".a.b", "" -> ".payload".
std::string payload_body(std::string_view path) {
  std::string body;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t dot = path.find('.', start);
    if (dot == std::string_view::npos) dot = path.size();
    if (dot > start) {
      body += '.';
      body.append(path.substr(start, dot - start));
    }
    start = dot + 1;
  }
  return body.empty() ? joined({".", kPayloadRoot}) : body;
}

// The root written (`usr`), or the known root it is close to (`user`); "" when none is.
// `room` counts even where {$room.id} is not allowed: it is known there, and suggests nothing.
std::string_view known_root(std::string_view written) {
  std::vector<std::string_view> roots = {kPayloadRoot, kTokenRoot};
  for (std::string_view name : named_placeholders(true)) roots.push_back(root_of(name));
  if (std::find(roots.begin(), roots.end(), written) != roots.end()) return written;
  for (std::string_view root : roots) {
    if (is_close(written, root)) return root;
  }
  return {};
}

std::optional<PlaceholderSuggestion> suggest_named(std::string_view name, bool allow_room_id) {
  const std::size_t dot = name.find('.');
  const std::string_view field = dot == std::string_view::npos ? "" : name.substr(dot + 1);
  const std::string_view root = known_root(root_of(name));
  if (root.empty()) return std::nullopt;
  if (root == kPayloadRoot) {
    return if_it_compiles(payload_body(joined({kPayloadRoot, ".", field})), allow_room_id,
                          "payload values start with a dot");
  }
  if (root == kTokenRoot) {
    if (field.empty()) return std::nullopt;
    return if_it_compiles(joined({"$", kTokenRoot, ".", field}), allow_room_id);
  }
  std::string named;  // the root's one field: "user.id", "event.name"
  for (std::string_view candidate : named_placeholders(true)) {
    if (root_of(candidate) == root) named = candidate;
  }
  const std::string_view known_field = std::string_view(named).substr(root.size() + 1);
  // `sub` is the token claim {$user.id} is filled from.
  if (field.empty() || is_close(field, known_field) || (root == kUserRoot && field == "sub")) {
    return if_it_compiles(joined({"$", named}), allow_room_id);
  }
  if (root == kUserRoot) {
    return if_it_compiles(joined({"$", kTokenRoot, ".", field}), allow_room_id,
                          joined({"the token's `", field, "` claim; the user's id is {$user.id}"}));
  }
  return std::nullopt;
}

}  // namespace

std::optional<PlaceholderSuggestion> suggest_placeholder(std::string_view body,
                                                         bool allow_room_id) {
  if (body.starts_with('$')) return suggest_named(body.substr(1), allow_room_id);
  if (body.starts_with('.')) return if_it_compiles(payload_body(body.substr(1)), allow_room_id);
  return std::nullopt;
}

std::string valid_placeholders(bool allow_room_id) {
  std::string names;
  for (std::string_view name : named_placeholders(allow_room_id)) {
    names.append("{$").append(name).append("}, ");
  }
  return names + "{$token.<claim>}, {.payload}, {.payload.<path>}, {.<path>}";
}

std::string placeholder_hint(std::string_view body, bool allow_room_id) {
  const std::optional<PlaceholderSuggestion> suggestion = suggest_placeholder(body, allow_room_id);
  if (!suggestion) return joined({"; valid placeholders are ", valid_placeholders(allow_room_id)});
  std::string hint = joined({": did you mean ", suggestion->placeholder, "?"});
  if (!suggestion->note.empty()) hint.append(joined({" (", suggestion->note, ")"}));
  return hint;
}

}  // namespace dispatch::tmpl
