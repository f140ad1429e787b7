// A `_join` under the room policies and limits, for a message's steps (MessageRun) and for the
// on_connect hook (HookRun): server.max_rooms_per_connection for the asking connection when it
// joins, a policy's join_permission asked of the asking connection (also when it joins another
// user), and max_members, which counts distinct users on the whole node — the joining user is
// reserved in the count before any connection joins, so two concurrent joins on different loops
// cannot both take the last place.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "delivery/fanout.h"
#include "dispatch/error_code.h"

namespace dispatch {

class Session;
class SessionLoop;

struct JoinRefusal {
  ErrorCode code = ErrorCode::forbidden;
  std::string message;
};

// A room that keeps history, when the asking connection is among those joining: where it asked
// to recover from (`since`) or how many of the room's last messages it asked for (`last`), and
// what it got (`outcome`, set when `applied`).
struct HistoryJoinRequest {
  std::optional<HistoryPosition> since;
  uint32_t last = 0;
  bool applied = false;
  HistoryJoin outcome;
};

// Joins `user` (every live connection, on every loop — and node), or only `asking` when
// `this_connection_only`; the refusal when a policy or limit says no. `joined_everywhere`: see
// join_user_to_room (delivery/fanout.h); not called when the join is refused. In a room that
// keeps history the asking connection joins first, with its replay (join_with_history).
std::optional<JoinRefusal> join_room(SessionLoop& loop, Session& asking, std::string_view user,
                                     std::string_view room, bool this_connection_only,
                                     std::function<void()> joined_everywhere = {},
                                     HistoryJoinRequest* history = nullptr);

}  // namespace dispatch
