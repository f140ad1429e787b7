// One loop's rooms: room id → the loop's sessions in it. A session keeps pointers to the
// rooms it is in, so leaving everything at disconnect needs no lookup. Membership is per
// session and ends with it; an empty room is erased (locally and in the Directory).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "delivery/directory.h"
#include "delivery/room_history.h"
#include "frames/out_frame.h"
#include "session/session_lists.h"

namespace dispatch {

class Session;

class LocalRooms {
 public:
  LocalRooms(Directory& directory, unsigned loop) : directory_(directory), loop_(loop) {}

  LocalRoom* find(std::string_view name) const;
  // Adds the session; false when it was already a member, or is in `room_limit` rooms
  // already (server.max_rooms_per_connection; 0 = no limit). `counts_users` (a max_members
  // policy) applies when this join creates the room here: its memberships then count their users
  // in the Directory.
  bool join(Session& session, std::string_view name, uint32_t room_limit,
            bool counts_users = false);
  // A history room: sets where the member stands — it is given only room messages after
  // `offset` (deliver_history), also when it was a member already. Returns whether it joined
  // now.
  bool join_at(Session& session, std::string_view name, uint32_t room_limit, bool counts_users,
               uint64_t offset);
  bool leave(Session& session, std::string_view name);
  void leave_all(Session& session);

  // Calls visit(Session&) for each member. A visit may make that member leave (a slow
  // consumer is closed): the member that takes its place is still visited, and the room stays
  // allocated until the loop is done.
  template <typename Visit>
  void for_each_member(std::string_view name, Visit visit) {
    LocalRoom* room = find(name);
    if (!room) return;
    ++room->visits;
    for (size_t i = 0; i < room->members.size();) {
      Session* member = room->members[i];
      visit(*member);
      if (i < room->members.size() && room->members[i] == member) ++i;
    }
    --room->visits;
    erase_if_unused(*room);
  }
  // Cluster mode: the member's replay is on its way from Redis; the room's messages for it are
  // held until finish_recovery.
  void begin_recovery(Session& session, std::string_view name);
  // Gives the member the replay — when `read` is complete from `since` on — then what was held
  // for it, each message once and in offset order; nothing of either at or before the room's
  // position when the replay is incomplete. `read` null: Redis could not be asked.
  void finish_recovery(Session& session, std::string_view name, const HistoryRead* read,
                       uint64_t since);
  // A history room's message: to each member not given `offset` (or a later one) yet.
  void deliver_history(std::string_view name, const FrameRef& frame, uint64_t offset);
  size_t size() const { return rooms_.size(); }

 private:
  void remove_member(LocalRoom& room, Session& session);
  static void keep_history(LocalRoom& room);
  void erase_if_unused(LocalRoom& room);

  Directory& directory_;
  unsigned loop_;
  std::unordered_map<std::string_view, std::unique_ptr<LocalRoom>> rooms_;  // keys view names
};

}  // namespace dispatch
