#include "delivery/local_rooms.h"

#include <algorithm>

#include "session/session.h"

namespace dispatch {

LocalRoom* LocalRooms::find(std::string_view name) const {
  auto found = rooms_.find(name);
  return found == rooms_.end() ? nullptr : found->second.get();
}

bool LocalRooms::join(Session& session, std::string_view name, uint32_t room_limit,
                      bool counts_users) {
  if (room_limit > 0 && session.rooms().size() >= room_limit) return false;
  LocalRoom* room = find(name);
  if (!room) {
    auto created = std::make_unique<LocalRoom>();
    created->name = std::string(name);
    created->counts_users = counts_users;
    room = created.get();
    rooms_.emplace(room->name, std::move(created));
  } else if (std::find(session.rooms().begin(), session.rooms().end(), room) !=
             session.rooms().end()) {
    return false;
  }
  room->members.push_back(&session);
  session.rooms().push_back(room);
  directory_.add_room_refs(name, loop_, +1);
  if (room->counts_users) directory_.add_room_user_refs(name, session.user_id(), +1);
  return true;
}

bool LocalRooms::leave(Session& session, std::string_view name) {
  LocalRoom* room = find(name);
  if (!room) return false;
  auto& joined = session.rooms();
  auto position = std::find(joined.begin(), joined.end(), room);
  if (position == joined.end()) return false;
  *position = joined.back();
  joined.pop_back();
  remove_member(*room, session);
  return true;
}

void LocalRooms::leave_all(Session& session) {
  RoomList joined;
  joined.swap(session.rooms());
  for (LocalRoom* room : joined) remove_member(*room, session);
}

// O(members): fine for the rooms of this size class; a per-membership index would make it O(1)
// at the cost of memory on every membership.
void LocalRooms::remove_member(LocalRoom& room, Session& session) {
  auto position = std::find(room.members.begin(), room.members.end(), &session);
  if (position != room.members.end()) {
    *position = room.members.back();
    room.members.pop_back();
  }
  directory_.add_room_refs(room.name, loop_, -1);
  if (room.counts_users) directory_.add_room_user_refs(room.name, session.user_id(), -1);
  erase_if_unused(room);
}

void LocalRooms::erase_if_unused(LocalRoom& room) {
  if (room.members.empty() && room.visits == 0) rooms_.erase(std::string_view(room.name));
}

}  // namespace dispatch
