#include "dispatch/error_code.h"

namespace dispatch {

std::string_view wire_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_json:
      return "bad_json";
    case ErrorCode::bad_message:
      return "bad_message";
    case ErrorCode::unknown_event:
      return "unknown_event";
    case ErrorCode::invalid_payload:
      return "invalid_payload";
    case ErrorCode::rate_limited:
      return "rate_limited";
    case ErrorCode::forbidden:
      return "forbidden";
    case ErrorCode::invalid_token:
      return "invalid_token";
    case ErrorCode::missing_field:
      return "missing_field";
    case ErrorCode::room_full:
      return "room_full";
    case ErrorCode::internal:
      return "internal";
  }
  return "internal";
}

}  // namespace dispatch
