// Building the frames the server sends: `{"event":…,"payload":…}` plus the optional `ref`,
// `room` and `from`, serialised once straight into a ready-to-send WebSocket frame.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dispatch/error_code.h"
#include "frames/out_frame.h"

namespace dispatch {

struct FrameOrigin {
  std::string_view ref_json;  // raw JSON of the client's id; empty = no "ref"
  std::optional<std::string_view> room;
  std::optional<std::string_view> from;
  // A room that keeps history: the message's offset (0 = none) and the room's epoch.
  uint64_t offset = 0;
  std::string_view epoch;
};

// `payload_json` must be a valid JSON document.
FrameRef build_event_frame(std::string_view event, std::string_view payload_json,
                           const FrameOrigin& origin = {});

// The same frame's JSON without its closing brace, for Redis to complete with the offset and the
// epoch (a history room in cluster mode).
std::string build_event_json_prefix(std::string_view event, std::string_view payload_json,
                                    const FrameOrigin& origin = {});
// A text frame of this JSON document.
FrameRef build_text_frame(std::string_view json);

struct ErrorDetails {
  std::string_view field;       // missing_field
  int64_t retry_after_ms = -1;  // rate_limited
  std::string_view path;        // invalid_payload
  std::string_view rule;        // invalid_payload
};

// {"event":"error","payload":{"code":…,"message":…,"ref":<ref or null>,"event":<name or null>,…}}
FrameRef build_error_frame(ErrorCode code, std::string_view message, std::string_view ref_json,
                           std::optional<std::string_view> event, const ErrorDetails& details = {});

// `extra_json`, when given, is appended inside the payload after "ref" (`,"recovered":{…}`).
FrameRef build_ack_frame(std::string_view ref_json, std::string_view extra_json = {});

// Whether `text` is one valid JSON document (what build_event_frame expects of a payload).
// Parses it: for checks outside the message path (debug builds, tests).
bool is_json_document(std::string_view text);

FrameRef build_close_frame(uint16_t code, std::string_view reason);
FrameRef build_control_frame(uint8_t opcode, std::string_view payload);
FrameRef build_raw_frame(std::string_view bytes);  // e.g. an HTTP response

}  // namespace dispatch
