#include "pipeline/incoming_message.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "template/json_escape.h"

namespace dispatch {

namespace {

constexpr size_t max_top_level_keys = 32;
// Objects up to this many keys are checked for duplicates pair by pair (no allocation); larger
// ones by sorting their keys' hashes.
constexpr size_t pairwise_key_limit = 16;
constexpr size_t max_quoted_key_length = 64;

// A JSON number as RFC 8259 writes it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view token) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < token.size() && token[i] >= '0' && token[i] <= '9') ++i;
    return i > start;
  };
  if (i < token.size() && token[i] == '-') ++i;
  if (i < token.size() && token[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < token.size() && token[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < token.size() && (token[i] == 'e' || token[i] == 'E')) {
    ++i;
    if (i < token.size() && (token[i] == '+' || token[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == token.size();
}

// After simdjson's NUMBER_ERROR (which covers both): true when every number in the text is
// well-formed, so the one at fault is out of range rather than malformed. Error path only.
bool numbers_are_well_formed(std::string_view text) {
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t end = i;
      while (end < text.size() &&
             (text[end] == '-' || text[end] == '+' || text[end] == '.' || text[end] == 'e' ||
              text[end] == 'E' || (text[end] >= '0' && text[end] <= '9'))) {
        ++end;
      }
      if (!is_json_number(text.substr(i, end - i))) return false;
      i = end - 1;
    }
  }
  return true;
}

std::string quoted_key(std::string_view key) {
  if (key.size() <= max_quoted_key_length) return std::string(key);
  size_t cut = max_quoted_key_length;
  while (cut > 0 && (static_cast<unsigned char>(key[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return std::string(key.substr(0, cut)) + "…";
}

// Where a duplicate key was found: the key and the path of its object, innermost segment first
// (built while the search unwinds, so nothing is spent on messages without duplicates).
struct DuplicateKey {
  std::string_view key;
  std::vector<std::string> reversed_path;
};

// Large objects: the keys' hashes sorted, full comparison only where two hashes are equal.
std::optional<std::string_view> duplicate_in_large(simdjson::dom::object object) {
  struct HashedKey {
    size_t hash;
    std::string_view key;
  };
  std::vector<HashedKey> keys;
  keys.reserve(object.size());
  for (auto field : object) keys.push_back({std::hash<std::string_view>{}(field.key), field.key});
  std::sort(keys.begin(), keys.end(),
            [](const HashedKey& a, const HashedKey& b) { return a.hash < b.hash; });
  for (size_t i = 1; i < keys.size(); ++i) {
    for (size_t j = i; j > 0 && keys[j - 1].hash == keys[i].hash; --j) {
      if (keys[j - 1].key == keys[i].key) return keys[i].key;
    }
  }
  return std::nullopt;
}

// Depth-first over objects and arrays; recursion depth is bounded by the parser's max depth.
// One pass over an object's fields both compares its keys and notes whether any value is itself
// an object or an array, so flat payloads are walked once.
std::optional<DuplicateKey> find_duplicate_key(simdjson::dom::element element) {
  simdjson::dom::object object;
  if (!element.get_object().get(object)) {
    bool has_children = false;
    const size_t size = object.size();
    if (size <= pairwise_key_limit) {
      std::string_view keys[pairwise_key_limit];
      size_t count = 0;
      for (auto field : object) {
        for (size_t i = 0; i < count; ++i) {
          if (keys[i] == field.key) return DuplicateKey{field.key, {}};
        }
        keys[count++] = field.key;
        has_children |= field.value.is_object() || field.value.is_array();
      }
    } else {
      if (auto key = duplicate_in_large(object)) return DuplicateKey{*key, {}};
      has_children = true;
    }
    if (!has_children) return std::nullopt;
    for (auto field : object) {
      if (field.value.is_object() || field.value.is_array()) {
        if (auto found = find_duplicate_key(field.value)) {
          // Appended, not "." + key: GCC 12 at -O3 warns (-Wrestrict) on that form.
          std::string segment = ".";
          segment += quoted_key(field.key);
          found->reversed_path.push_back(std::move(segment));
          return found;
        }
      }
    }
    return std::nullopt;
  }
  simdjson::dom::array array;
  if (!element.get_array().get(array)) {
    size_t index = 0;
    for (simdjson::dom::element item : array) {
      if (item.is_object() || item.is_array()) {
        if (auto found = find_duplicate_key(item)) {
          found->reversed_path.push_back(fmt::format("[{}]", index));
          return found;
        }
      }
      ++index;
    }
  }
  return std::nullopt;
}

// `since`: an object of at most max_since_rooms rooms, each {"offset": <unsigned>, "epoch":
// <string>} and nothing else, or {"last": <1..max_since_last>} alone.
std::optional<std::string> since_problem(simdjson::dom::element value) {
  simdjson::dom::object rooms;
  if (value.get_object().get(rooms)) {
    return std::string(
        "`since` must be an object of rooms, like {\"room:1\": {\"offset\": 41, "
        "\"epoch\": \"…\"}}");
  }
  if (rooms.size() > max_since_rooms) {
    return fmt::format("`since` may name at most {} rooms", max_since_rooms);
  }
  for (auto room : rooms) {
    if (room.key.empty() || room.key.size() > max_target_length) {
      return std::string("`since` has a room id that is empty or longer than 256 bytes");
    }
    simdjson::dom::object position;
    if (room.value.get_object().get(position)) {
      return fmt::format("`since.{}` must be an object {{\"offset\": N, \"epoch\": \"…\"}}",
                         quoted_key(room.key));
    }
    bool has_offset = false;
    bool has_epoch = false;
    bool has_last = false;
    for (auto field : position) {
      if (field.key == "offset") {
        uint64_t offset = 0;
        if (field.value.get_uint64().get(offset)) {
          return fmt::format("`since.{}.offset` must be a non-negative integer",
                             quoted_key(room.key));
        }
        has_offset = true;
      } else if (field.key == "epoch") {
        std::string_view epoch;
        if (field.value.get_string().get(epoch) || epoch.size() > max_target_length) {
          return fmt::format("`since.{}.epoch` must be a string (at most 256 bytes)",
                             quoted_key(room.key));
        }
        has_epoch = true;
      } else if (field.key == "last") {
        uint64_t last = 0;
        if (field.value.get_uint64().get(last) || last == 0 || last > max_since_last) {
          return fmt::format("`since.{}.last` must be an integer from 1 to {}",
                             quoted_key(room.key), max_since_last);
        }
        has_last = true;
      } else {
        return fmt::format(
            "`since.{}` has the unknown key `{}`: only `offset` and `epoch`, or `last`",
            quoted_key(room.key), quoted_key(field.key));
      }
    }
    if (has_last && (has_offset || has_epoch)) {
      return fmt::format("`since.{}` has `last` and a position: give {{\"last\": N}} alone",
                         quoted_key(room.key));
    }
    if (!has_last && (!has_offset || !has_epoch)) {
      return fmt::format("`since.{}` needs both `offset` and `epoch` (or `last` alone)",
                         quoted_key(room.key));
    }
  }
  return std::nullopt;
}

std::string describe_parse_error(simdjson::error_code error, const simdjson::dom::parser& parser,
                                 std::string_view text) {
  switch (error) {
    case simdjson::UTF8_ERROR:
      return "the message is not valid UTF-8";
    case simdjson::DEPTH_ERROR:
      return fmt::format(
          "the message is nested too deeply: at most {} levels of objects and arrays",
          parser.max_depth());
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE:
      if (numbers_are_well_formed(text)) {
        return "a number in the message is out of range: integers must fit in 64 bits "
               "(-9223372036854775808 to 18446744073709551615) and other numbers in a double "
               "(up to about 1.8e308); send larger numbers as strings";
      }
      return "the message is not valid JSON (a malformed number)";
    default:
      return "the message is not valid JSON";
  }
}

}  // namespace

std::optional<ParseFailure> parse_incoming(simdjson::dom::parser& parser, const char* data,
                                           size_t length, IncomingMessage& message) {
  simdjson::dom::element root;
  auto error = parser.parse(data, length, false).get(root);
  if (error) {
    return ParseFailure{ErrorCode::bad_json,
                        describe_parse_error(error, parser, std::string_view(data, length))};
  }
  simdjson::dom::object object;
  if (root.get_object().get(object)) {
    return ParseFailure{ErrorCode::bad_message, "a message must be a JSON object"};
  }

  std::string_view seen[max_top_level_keys];
  size_t seen_count = 0;
  std::optional<ParseFailure> failure;
  auto fail_once = [&](std::string text) {
    if (!failure) failure = ParseFailure{ErrorCode::bad_message, std::move(text)};
  };

  bool has_nested_values = false;
  for (auto field : object) {
    const std::string_view key = field.key;
    has_nested_values |= field.value.is_object() || field.value.is_array();
    for (size_t i = 0; i < seen_count; ++i) {
      if (seen[i] == key) fail_once(fmt::format("the key `{}` appears twice", key));
    }
    if (seen_count == max_top_level_keys) {
      fail_once("a message may have at most 32 top-level keys");
    } else {
      seen[seen_count++] = key;
    }

    if (key == "event") {
      std::string_view name;
      if (field.value.get_string().get(name)) {
        fail_once("`event` must be a string");
      } else {
        message.event = name;
      }
    } else if (key == "target") {
      std::string_view target;
      if (field.value.get_string().get(target)) {
        fail_once("`target` must be a string");
      } else if (target.size() > max_target_length) {
        fail_once("`target` is longer than 256 bytes");
      } else {
        message.target = target;
      }
    } else if (key == "payload") {
      message.payload = field.value;
    } else if (key == "since") {
      if (auto problem = since_problem(field.value)) {
        fail_once(std::move(*problem));
      } else {
        message.since = field.value.get_object().value_unsafe();
      }
    } else if (key == "id") {
      std::string_view text;
      if (!field.value.get_string().get(text)) {
        message.ref_json.clear();
        message.ref_json.push_back('"');
        tmpl::append_json_escaped(message.ref_json, text);
        message.ref_json.push_back('"');
      } else if (field.value.is_number()) {
        message.ref_json = simdjson::minify(field.value);
      } else {
        fail_once("`id` must be a string or a number");
      }
    }
  }
  if (failure) return failure;
  if (!message.event) return ParseFailure{ErrorCode::bad_message, "`event` is required"};
  // Below the top level: templates read the first of two equal keys while `{.payload}` forwards
  // both (and browsers keep the last), so a message with one is refused. Scalars cost nothing.
  if (!has_nested_values) return std::nullopt;
  for (auto field : object) {
    if (!field.value.is_object() && !field.value.is_array()) continue;
    if (auto duplicate = find_duplicate_key(field.value)) {
      std::string where = quoted_key(field.key);
      for (auto it = duplicate->reversed_path.rbegin(); it != duplicate->reversed_path.rend();
           ++it) {
        where += *it;
      }
      return ParseFailure{ErrorCode::bad_message, fmt::format("the key `{}` appears twice in `{}`",
                                                              quoted_key(duplicate->key), where)};
    }
  }
  return std::nullopt;
}

std::optional<SincePosition> since_for(const IncomingMessage& message, std::string_view room) {
  if (!message.since) return std::nullopt;
  simdjson::dom::object position;
  if (message.since->at_key(room).get_object().get(position)) return std::nullopt;
  SincePosition since;
  uint64_t last = 0;
  if (!position.at_key("last").get_uint64().get(last)) {
    since.last = static_cast<uint32_t>(last);  // checked at parse: 1..max_since_last
    return since;
  }
  if (position.at_key("offset").get_uint64().get(since.offset)) return std::nullopt;
  if (position.at_key("epoch").get_string().get(since.epoch)) return std::nullopt;
  return since;
}

}  // namespace dispatch
