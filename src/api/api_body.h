// The JSON bodies of the server API (SPEC 5), read into plain requests: each bad form is an
// ApiError naming the field at fault, so a backend's developer sees at once what to fix.
//   POST /api/publish     {"target": "room:<id>" | "user:<id>" | "*", "event": "…", "payload": …}
//                         or a JSON array of those (a batch: each item checked on its own)
//   POST /api/disconnect  {"user": "…", "reason": "…"}
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/api_error.h"

namespace dispatch::api {

enum class TargetKind { room, user, everyone };

struct PublishItem {
  TargetKind kind = TargetKind::room;
  std::string name;  // the room or user id; "" for everyone
  std::string event;
  std::string payload_json;  // minified; "null" when the item has none
};

struct PublishBody {
  bool batch = false;  // the body was an array: answer each item's outcome
  std::vector<std::variant<PublishItem, ApiError>> items;
};

std::variant<PublishBody, ApiError> read_publish_body(std::string_view body);

struct DisconnectRequest {
  std::string user;
  std::string reason;
};

std::variant<DisconnectRequest, ApiError> read_disconnect_body(std::string_view body);

}  // namespace dispatch::api
