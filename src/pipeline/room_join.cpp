#include "pipeline/room_join.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "config/room_policy.h"
#include "delivery/fanout.h"
#include "delivery/loop_delivery.h"
#include "pipeline/compiled_config.h"
#include "pipeline/session_loop.h"
#include "session/session.h"

namespace dispatch {

std::optional<JoinRefusal> join_room(SessionLoop& loop, Session& asking, std::string_view user,
                                     std::string_view room, bool this_connection_only,
                                     std::function<void()> joined_everywhere,
                                     HistoryJoinRequest* history) {
  const config::Config& config = loop.config().config();
  const uint32_t limit = config.server.max_rooms_per_connection;
  const bool asker_joins = this_connection_only || user == asking.user_id();
  if (asker_joins && limit > 0 && !asking.is_member(room) && asking.rooms().size() >= limit) {
    return JoinRefusal{
        ErrorCode::forbidden,
        fmt::format("this connection is already in {} rooms (server.max_rooms_per_connection): "
                    "leave one first",
                    limit)};
  }
  const config::RoomPolicy* policy =
      config.rooms.empty() ? nullptr : config::find_room_policy(config.rooms, room);
  if (policy && !policy->join_permission.empty()) {
    const auto& held = asking.permissions();
    if (std::find(held.begin(), held.end(), policy->join_permission) == held.end()) {
      return JoinRefusal{
          ErrorCode::forbidden,
          fmt::format("joining room {} needs the permission `{}`", room, policy->join_permission)};
    }
  }
  const bool counts_users = policy && (policy->max_members > 0 || policy->presence);
  const std::string_view joining_user = this_connection_only ? asking.user_id() : user;
  Directory& directory = loop.delivery().directory();
  const uint32_t max_members = policy && policy->max_members > 0
                                   ? policy->max_members
                                   : std::numeric_limits<uint32_t>::max();
  if (counts_users && !directory.reserve_room_user(room, joining_user, max_members)) {
    return JoinRefusal{ErrorCode::room_full,
                       fmt::format("room {} is full ({} users, its policy `{}`)", room,
                                   policy->max_members, policy->glob)};
  }
  // (In cluster mode the history is in Redis: MessageRun::recover_in_cluster.)
  if (asker_joins && asking.is_open() && !loop.delivery().broker()) {
    if (const std::optional<HistoryLimits> limits = loop.config().history_limits(room)) {
      HistoryJoin outcome =
          join_with_history(loop.delivery(), asking, room, counts_users, loop.clock().now(),
                            history ? history->since : std::nullopt, history ? history->last : 0);
      if (history) {
        history->applied = true;
        history->outcome = std::move(outcome);
      }
    }
  }
  if (this_connection_only) {
    loop.delivery().join(asking, room, counts_users);
  } else {
    join_user_to_room(loop.delivery(), user, room, counts_users, std::move(joined_everywhere));
  }
  if (counts_users) directory.add_room_user_refs(room, joining_user, -1);  // the reservation
  return std::nullopt;
}

}  // namespace dispatch
