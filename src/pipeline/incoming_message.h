// Parsing one client message (SPEC section 4): a JSON object with `event` (string, required),
// `target` (string, ≤ 256 bytes), `payload` (any JSON) and `id` (string or number). simdjson's
// DOM parser validates the whole document (JSON and UTF-8) in one pass; the fields are views
// into the parser's memory, valid until the loop's parser parses the next message. A key that
// appears twice in one object, at any depth, is `bad_message` (naming the key and where); JSON
// that is valid but beyond what the parser represents (numbers past 64 bits, nesting past its
// depth) is `bad_json` with a message that says which.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>

#include "dispatch/error_code.h"

namespace dispatch {

constexpr size_t max_target_length = 256;

struct IncomingMessage {
  std::optional<std::string_view> event;
  std::optional<std::string_view> target;
  std::optional<simdjson::dom::element> payload;
  std::string ref_json;  // the id as JSON text ("7", "\"abc\""); empty when there is no id
  // Recovery (SPEC 4.3): {"<room>": {"offset": N, "epoch": "…"}, …}, or a room's last kept
  // messages: {"<room>": {"last": N}}; checked for its form.
  std::optional<simdjson::dom::object> since;
};

// At most this many rooms in a message's `since`.
constexpr size_t max_since_rooms = 100;
// At most this many of a room's last messages asked for with `{"last": N}` (the largest
// history.size).
constexpr uint64_t max_since_last = 100000;

// What `since` gives for `room`: a position to recover from, or (`last` > 0) how many of the
// room's last kept messages to replay.
struct SincePosition {
  uint64_t offset = 0;
  std::string_view epoch;
  uint32_t last = 0;
};
std::optional<SincePosition> since_for(const IncomingMessage& message, std::string_view room);

struct ParseFailure {
  ErrorCode code;
  std::string message;
};

// `data` must be followed by simdjson::SIMDJSON_PADDING readable bytes.
// On failure, `message` still holds whatever was read (the id for `ref`, the event name).
std::optional<ParseFailure> parse_incoming(simdjson::dom::parser& parser, const char* data,
                                           size_t length, IncomingMessage& message);

}  // namespace dispatch
