// The one list of error codes a client can receive (SPEC section 4), and where each maps on the
// wire. Every rejection on the message path is one of these; a custom step fails with one too.
#pragma once

#include <string_view>

namespace dispatch {

enum class ErrorCode {
  bad_json,         // not JSON, or not UTF-8
  bad_message,      // JSON, but a missing or ill-typed field
  unknown_event,    // no such event in the config
  invalid_payload,  // payload schema check failed
  rate_limited,     // a rate_limit modifier refused (does not count against the error budget)
  forbidden,        // permission, membership or room policy
  invalid_token,    // the event token of a `secure` event
  missing_field,    // a template placeholder had no value
  room_full,        // a room policy's max_members
  internal,         // a bug or an unavailable dependency
};

// The wire spelling, e.g. "bad_json".
std::string_view wire_name(ErrorCode code);

// Whether answering this error spends the connection's error budget.
constexpr bool counts_against_budget(ErrorCode code) {
  return code != ErrorCode::rate_limited;
}

}  // namespace dispatch
