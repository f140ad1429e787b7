// A room message from `_notify_room`, a hook or the server API: built once and fanned out — or,
// into a room whose policy keeps history, given the room's next offset and its epoch and kept
// (delivery/fanout.h, publish_to_history_room). Rooms without history pay one flag test when no
// policy keeps history.
#pragma once

#include <functional>
#include <string_view>

#include "delivery/room_history.h"
#include "frames/server_frames.h"

namespace dispatch {

class SessionLoop;

// Returns false when this loop's members get the message only after older ones of the room still
// on their way here; `delivered_here` runs then, once they have it (a sender waits for it, so its
// next frames come after). True otherwise; `delivered_here` is not called.
bool publish_room_message(SessionLoop& loop, std::string_view room, std::string_view event,
                          std::string_view payload_json, FrameOrigin origin,
                          std::function<void()> delivered_here = {});
// The same, for a room the caller knows keeps history under `limits`.
bool publish_history_message(SessionLoop& loop, std::string_view room, const HistoryLimits& limits,
                             std::string_view event, std::string_view payload_json,
                             FrameOrigin origin, std::function<void()> delivered_here);

}  // namespace dispatch
