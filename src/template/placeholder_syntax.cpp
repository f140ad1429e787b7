#include "template/placeholder_syntax.h"

#include <array>

namespace dispatch::tmpl {
namespace {

bool is_body_char(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte <= 0x20 || byte == 0x7F) return false;
  return c != '{' && c != '}' && c != '"' && c != '\\';
}

struct NamedSource {
  std::string_view name;
  Source source;
};

constexpr std::array<NamedSource, 5> kNamedSources = {{
    {"user.id", Source::user_id},
    {"conn.id", Source::conn_id},
    {"target.id", Source::target_id},
    {"event.name", Source::event_name},
    {"room.id", Source::room_id},
}};

constexpr std::string_view kClaimPrefix = "token.";
constexpr std::string_view kPayloadRoot = "payload";

std::string valid_names(bool allow_room_id) {
  std::string names = "{$user.id}, {$conn.id}, {$target.id}, {$event.name}, {$token.<claim>}";
  if (allow_room_id) names += ", {$room.id}";
  names += ", {.payload}, {.payload.<path>}, {.<path>}";
  return names;
}

void append_pointer_segment(std::string& pointer, std::string_view segment) {
  pointer += '/';
  for (char c : segment) {
    if (c == '~') {
      pointer += "~0";
    } else if (c == '/') {
      pointer += "~1";
    } else {
      pointer += c;
    }
  }
}

std::optional<Placeholder> parse_named(std::string_view name, bool allow_room_id,
                                       std::string& error) {
  Placeholder placeholder;
  if (name.starts_with(kClaimPrefix)) {
    if (name.size() == kClaimPrefix.size()) {
      error = "placeholder {$token.} needs a claim name, as in {$token.org}";
      return std::nullopt;
    }
    placeholder.source = Source::claim;
    placeholder.claim = name.substr(kClaimPrefix.size());
    placeholder.field = name;
    return placeholder;
  }
  for (const NamedSource& named : kNamedSources) {
    if (name != named.name) continue;
    if (named.source == Source::room_id && !allow_room_id) break;
    placeholder.source = named.source;
    placeholder.field = name;
    return placeholder;
  }
  error = "unknown placeholder {$" + std::string(name) + "}";
  if (name == "room.id") error += " ({$room.id} is available only in room lifecycle hooks)";
  error += "; valid placeholders are " + valid_names(allow_room_id);
  return std::nullopt;
}

std::optional<Placeholder> parse_payload_path(std::string_view path, std::string& error) {
  Placeholder placeholder;
  placeholder.source = Source::payload;
  placeholder.field = kPayloadRoot;
  std::size_t start = 0;
  bool first = true;
  while (start <= path.size()) {
    std::size_t dot = path.find('.', start);
    if (dot == std::string_view::npos) dot = path.size();
    const std::string_view segment = path.substr(start, dot - start);
    if (segment.empty()) {
      error = "placeholder {." + std::string(path) + "} has an empty path segment";
      return std::nullopt;
    }
    // `{.payload...}` names the payload itself; `{.a.b}` is short for `{.payload.a.b}`.
    if (!(first && segment == kPayloadRoot)) {
      placeholder.path.emplace_back(segment);
      append_pointer_segment(placeholder.json_pointer, segment);
      placeholder.field += '.';
      placeholder.field += segment;
    }
    first = false;
    start = dot + 1;
  }
  return placeholder;
}

}  // namespace

bool starts_placeholder(std::string_view source, std::size_t brace) {
  if (brace + 1 >= source.size()) return false;
  const char marker = source[brace + 1];
  if (marker == '$') return true;
  if (marker != '.' || brace + 2 >= source.size()) return false;
  const char first = source[brace + 2];
  return is_body_char(first) && first != '.';
}

std::size_t find_placeholder_end(std::string_view source, std::size_t brace) {
  for (std::size_t i = brace + 1; i < source.size(); ++i) {
    if (source[i] == '}') return i;
    if (!is_body_char(source[i])) return std::string_view::npos;
  }
  return std::string_view::npos;
}

std::optional<Placeholder> parse_placeholder(std::string_view body, bool allow_room_id,
                                             std::string& error) {
  if (body.starts_with('$')) return parse_named(body.substr(1), allow_room_id, error);
  if (body.starts_with('.')) return parse_payload_path(body.substr(1), error);
  error = "placeholder {" + std::string(body) + "} must start with $ or .";
  return std::nullopt;
}

}  // namespace dispatch::tmpl
