// Carries out a checked server API request (SPEC 5) on the event loop it arrived on:
//   publish     each item through the same fan-out as `_notify_room` / `_notify_user` /
//               `_broadcast`, in the body's order (so one request's messages keep their order
//               for every recipient);
//   room info   each loop with members of the room reports them on its own thread; the answer
//               is built once all have;
//   disconnect  every connection of the user, on every loop, closes 4003 with the reason;
//   reload      the control thread reloads the config (server/config_reloader.h).
// `answer` is called exactly once, on this loop's thread, with the whole HTTP response — unless
// the server stops first (a reload asked while it shuts down is never answered).
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace dispatch {

class EventLoop;
namespace api {
struct Request;
}

void serve_api_request(EventLoop& loop, const api::Request& request, std::string_view body,
                       std::function<void(std::string response)> answer);

}  // namespace dispatch
