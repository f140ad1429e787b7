// The head of a server API request (`/api/*`, SPEC 5), checked before any body byte is read: the
// API is on (api.key set), the Bearer key matches (compared in constant time), the route and
// method are known, and the body fits (Content-Length, at most max_body_size). A request that
// fails gets its error at once, so an unauthorised client can never make the server buffer 1 MiB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "api/api_error.h"

namespace dispatch::api {

inline constexpr size_t max_body_size = 1024 * 1024;

enum class Route { publish, room_info, room_history, disconnect, reload };
// "publish", "rooms", "history", "disconnect", "reload": the route's label in metrics.
std::string_view route_name(Route route);

struct Request {
  Route route = Route::publish;
  std::string room;        // room_info, room_history: the room id, percent-decoded
  uint64_t since = 0;      // room_history: `?since=N`, the messages after offset N
  size_t body_length = 0;  // bytes that follow the head (Content-Length)
};

// `head`: the request line and headers up to and including the blank line.
std::variant<Request, ApiError> check_request(std::string_view head, std::string_view api_key);

// Whether `authorization` is "Bearer <key>" for this key. Takes the same time whatever the
// candidate's bytes (both sides are hashed first, then compared with CRYPTO_memcmp), so the
// answer's timing says nothing about how much of a guess was right — nor the key's length.
bool bearer_matches(std::string_view authorization, std::string_view key);

}  // namespace dispatch::api
