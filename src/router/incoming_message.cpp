#include "router/incoming_message.h"

#include <fmt/format.h>

#include <vector>

#include "template/json_escape.h"

namespace dispatch {

namespace {
constexpr size_t max_top_level_keys = 32;
}

std::optional<ParseFailure> parse_incoming(simdjson::dom::parser& parser, const char* data,
                                           size_t length, IncomingMessage& message) {
  simdjson::dom::element root;
  auto error = parser.parse(data, length, false).get(root);
  if (error) {
    std::string_view reason = error == simdjson::UTF8_ERROR ? "the message is not valid UTF-8"
                                                            : "the message is not valid JSON";
    return ParseFailure{ErrorCode::bad_json, std::string(reason)};
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

  for (auto field : object) {
    const std::string_view key = field.key;
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
  return std::nullopt;
}

}  // namespace dispatch
