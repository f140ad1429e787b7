#include "api/api_body.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include <algorithm>
#include <initializer_list>
#include <optional>

#include "steps/builtin_steps.h"

namespace dispatch::api {

namespace {

constexpr size_t max_event_length = 256;
constexpr size_t max_batch_items = 10'000;
// A close frame's reason is at most 123 bytes (RFC 6455 section 5.5).
constexpr size_t max_reason_length = 123;

ApiError bad(std::string code, std::string message, std::string field) {
  return ApiError{400, std::move(code), std::move(message), std::move(field), {}};
}

// "field" alone, or "[3].field" for the fourth item of a batch.
std::string field_name(std::string_view prefix, std::string_view field) {
  return fmt::format("{}{}", prefix, field);
}

std::variant<simdjson::dom::element, ApiError> parse(simdjson::dom::parser& parser,
                                                     const simdjson::padded_string& text) {
  simdjson::dom::element root;
  if (const auto failure = parser.parse(text).get(root)) {
    return bad("bad_json",
               fmt::format("the body is not valid JSON: {}", simdjson::error_message(failure)), "");
  }
  return root;
}

// A string field of an object: absent → nullopt with `missing` set; not a string → an error.
std::optional<std::string_view> string_field(simdjson::dom::object object, std::string_view name,
                                             std::string_view prefix,
                                             std::optional<ApiError>& error, bool required) {
  simdjson::dom::element value;
  if (object.at_key(name).get(value)) {
    if (required) {
      error = bad("missing_field", fmt::format("`{}` is required", name), field_name(prefix, name));
    }
    return std::nullopt;
  }
  std::string_view text;
  if (value.get(text)) {
    error = bad("wrong_type", fmt::format("`{}` must be a string", name), field_name(prefix, name));
    return std::nullopt;
  }
  return text;
}

// Fields a request does not know are errors, not silently dropped (a typo like "paylaod").
std::optional<ApiError> unknown_field(simdjson::dom::object object,
                                      std::initializer_list<std::string_view> known,
                                      std::string_view prefix) {
  for (const auto field : object) {
    if (std::find(known.begin(), known.end(), field.key) != known.end()) continue;
    const std::string list = fmt::format("{}", fmt::join(known, ", "));
    // A client's key is echoed only when short (it is valid UTF-8: simdjson checked the body).
    const bool short_key = field.key.size() <= 64;
    const std::string shown = short_key ? fmt::format("`{}`", field.key) : "(a long key)";
    return bad("unknown_field", fmt::format("unknown field {} (the fields are {})", shown, list),
               short_key ? field_name(prefix, field.key) : std::string(prefix));
  }
  return std::nullopt;
}

std::variant<PublishItem, ApiError> read_item(simdjson::dom::element element,
                                              std::string_view prefix) {
  simdjson::dom::object object;
  if (element.get(object)) {
    return bad("wrong_type", "a publish is an object {\"target\": …, \"event\": …, \"payload\": …}",
               std::string(prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1)));
  }
  if (auto unknown = unknown_field(object, {"target", "event", "payload"}, prefix)) {
    return *unknown;
  }
  std::optional<ApiError> error;
  const auto target = string_field(object, "target", prefix, error, true);
  if (error) return *error;
  const auto event = string_field(object, "event", prefix, error, true);
  if (error) return *error;

  PublishItem item;
  const std::string target_field = field_name(prefix, "target");
  if (*target == "*") {
    item.kind = TargetKind::everyone;
  } else if (target->starts_with("room:")) {
    item.kind = TargetKind::room;
    item.name = std::string(target->substr(5));
  } else if (target->starts_with("user:")) {
    item.kind = TargetKind::user;
    item.name = std::string(target->substr(5));
  } else {
    return bad("bad_target",
               "`target` is \"room:<id>\", \"user:<id>\" or \"*\" (everyone): no other kind of "
               "target exists",
               target_field);
  }
  if (item.kind != TargetKind::everyone && item.name.empty()) {
    return bad("bad_target", "the target's id is empty", target_field);
  }
  if (item.name.size() > max_room_id_length) {
    return bad("bad_target",
               fmt::format("the target's id is {} bytes; at most {}", item.name.size(),
                           max_room_id_length),
               target_field);
  }
  if (event->empty() || event->size() > max_event_length) {
    return bad("bad_event", fmt::format("`event` must be 1 to {} bytes", max_event_length),
               field_name(prefix, "event"));
  }
  item.event = std::string(*event);
  simdjson::dom::element payload;
  item.payload_json = object.at_key("payload").get(payload) ? "null" : simdjson::minify(payload);
  return item;
}

}  // namespace

std::variant<PublishBody, ApiError> read_publish_body(std::string_view body) {
  simdjson::dom::parser parser;
  const simdjson::padded_string text(body);
  auto parsed = parse(parser, text);
  if (auto* failure = std::get_if<ApiError>(&parsed)) return std::move(*failure);
  const simdjson::dom::element root = std::get<simdjson::dom::element>(parsed);

  PublishBody publish;
  simdjson::dom::array array;
  if (root.get(array)) {
    auto item = read_item(root, "");
    if (auto* failure = std::get_if<ApiError>(&item)) return std::move(*failure);
    publish.items.push_back(std::move(item));
    return publish;
  }
  publish.batch = true;
  if (array.size() > max_batch_items) {
    return bad("batch_too_large",
               fmt::format("a batch holds at most {} publishes", max_batch_items), "");
  }
  size_t index = 0;
  for (simdjson::dom::element element : array) {
    publish.items.push_back(read_item(element, fmt::format("[{}].", index++)));
  }
  return publish;
}

std::variant<DisconnectRequest, ApiError> read_disconnect_body(std::string_view body) {
  simdjson::dom::parser parser;
  const simdjson::padded_string text(body);
  auto parsed = parse(parser, text);
  if (auto* failure = std::get_if<ApiError>(&parsed)) return std::move(*failure);
  simdjson::dom::object object;
  if (std::get<simdjson::dom::element>(parsed).get(object)) {
    return bad("wrong_type", "the body is an object {\"user\": …, \"reason\": …}", "");
  }
  if (auto unknown = unknown_field(object, {"user", "reason"}, "")) return *unknown;
  std::optional<ApiError> error;
  const auto user = string_field(object, "user", "", error, true);
  if (error) return *error;
  const auto reason = string_field(object, "reason", "", error, false);
  if (error) return *error;
  if (user->empty()) return bad("missing_field", "`user` is empty", "user");
  DisconnectRequest request{std::string(*user), std::string(reason.value_or("disconnected"))};
  if (request.reason.size() > max_reason_length) {
    return bad("reason_too_long",
               fmt::format("`reason` is {} bytes; a close reason holds at most {}",
                           request.reason.size(), max_reason_length),
               "reason");
  }
  return request;
}

}  // namespace dispatch::api
