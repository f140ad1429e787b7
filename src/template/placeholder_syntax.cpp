#include "template/placeholder_syntax.h"

#include <array>

namespace dispatch::tmpl {
namespace {

bool is_body_char(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte <= 0x20 || byte == 0x7F) return false;
  return c != '{' && c != '}' && c != '"' && c != '\\';
}

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '-';
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
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
  if (name == "room.id")
    error += " ({$room.id} is available only in hooks.on_join and hooks.on_leave)";
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

std::optional<MisspeltPlaceholder> find_misspelt_placeholder(std::string_view source,
                                                             std::size_t brace) {
  std::size_t start = brace + 1;
  while (start < source.size() && is_blank(source[start])) ++start;
  if (start >= source.size()) return std::nullopt;
  const bool marked = source[start] == '$' || source[start] == '.';
  if (!marked && !is_name_start(source[start])) return std::nullopt;  // JSON text, prose, ...
  if (marked && start == brace + 1) return std::nullopt;  // {$ and {. are placeholders already
  std::size_t end = start + 1;
  bool dotted = false;
  while (end < source.size() &&
         (marked ? is_body_char(source[end]) : is_name_char(source[end]) || source[end] == '.')) {
    if (source[end] == '.') dotted = true;
    ++end;
  }
  const std::string_view body = source.substr(start, end - start);
  while (end < source.size() && is_blank(source[end])) ++end;
  if (end >= source.size() || source[end] != '}') return std::nullopt;
  if (!marked && !dotted && body != kPayloadRoot) return std::nullopt;  // `{name}` stays literal
  MisspeltPlaceholder found;
  found.end = end;
  found.written = source.substr(brace, end + 1 - brace);
  found.spaced = marked;
  if (marked) {
    found.meant_body = body;
  } else {
    const std::string_view root = body.substr(0, body.find('.'));
    bool named = root == "token";
    for (const NamedSource& source_name : kNamedSources) {
      if (source_name.name.substr(0, source_name.name.find('.')) == root) named = true;
    }
    found.meant_body.push_back(named ? '$' : '.');
    found.meant_body.append(body);
  }
  return found;
}

std::vector<std::string_view> named_placeholders(bool allow_room_id) {
  std::vector<std::string_view> names;
  for (const NamedSource& named : kNamedSources) {
    if (named.source != Source::room_id || allow_room_id) names.push_back(named.name);
  }
  return names;
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
