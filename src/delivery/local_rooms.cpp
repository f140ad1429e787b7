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
  if (room->keeps_history) room->offsets.push_back(0);
  session.rooms().push_back(room);
  directory_.add_room_refs(name, loop_, +1);
  if (room->counts_users) directory_.add_room_user_refs(name, session.user_id(), +1);
  return true;
}

void LocalRooms::keep_history(LocalRoom& room) {
  if (room.keeps_history) return;
  room.keeps_history = true;
  room.offsets.assign(room.members.size(), 0);
}

bool LocalRooms::join_at(Session& session, std::string_view name, uint32_t room_limit,
                         bool counts_users, uint64_t offset) {
  const bool joined = join(session, name, room_limit, counts_users);
  LocalRoom* room = find(name);
  if (!room) return false;
  auto member = std::find(room->members.begin(), room->members.end(), &session);
  if (member == room->members.end()) return false;
  keep_history(*room);
  room->offsets[static_cast<size_t>(member - room->members.begin())] = offset;
  return joined;
}

void LocalRooms::begin_recovery(Session& session, std::string_view name) {
  LocalRoom* room = find(name);
  if (!room) return;
  if (std::find(room->members.begin(), room->members.end(), &session) == room->members.end()) {
    return;
  }
  keep_history(*room);
  room->recovering.push_back({&session, {}});
}

void LocalRooms::finish_recovery(Session& session, std::string_view name, const HistoryRead* read,
                                 uint64_t since) {
  LocalRoom* room = find(name);
  if (!room) return;
  auto waiting =
      std::find_if(room->recovering.begin(), room->recovering.end(),
                   [&](const LocalRoom::Recovering& r) { return r.session == &session; });
  if (waiting == room->recovering.end()) return;
  std::vector<std::pair<uint64_t, FrameRef>> held = std::move(waiting->held);
  room->recovering.erase(waiting);
  auto member = std::find(room->members.begin(), room->members.end(), &session);
  if (member == room->members.end()) return;
  const size_t index = static_cast<size_t>(member - room->members.begin());
  uint64_t at = room->offsets[index];
  if (read && read->complete && read->first_offset == since + 1) {
    for (size_t k = 0; k < read->frames.size(); ++k) {
      const uint64_t offset = read->first_offset + k;
      if (offset <= at) continue;
      session.send(read->frames[k]);
      at = offset;
    }
  }
  if (read) at = std::max(at, read->position.offset);
  for (auto& [offset, frame] : held) {
    if (offset <= at) continue;
    session.send(frame);
    at = offset;
  }
  // The member may have been closed by a send (a slow consumer) and be gone from the room.
  member = std::find(room->members.begin(), room->members.end(), &session);
  if (member != room->members.end()) {
    room->offsets[static_cast<size_t>(member - room->members.begin())] = at;
  }
}

void LocalRooms::deliver_history(std::string_view name, const FrameRef& frame, uint64_t offset) {
  LocalRoom* room = find(name);
  if (!room) return;
  keep_history(*room);
  ++room->visits;
  for (size_t i = 0; i < room->members.size();) {
    Session* member = room->members[i];
    auto waiting =
        room->recovering.empty()
            ? room->recovering.end()
            : std::find_if(room->recovering.begin(), room->recovering.end(),
                           [&](const LocalRoom::Recovering& r) { return r.session == member; });
    if (waiting != room->recovering.end()) {
      waiting->held.emplace_back(offset, frame);
    } else if (room->offsets[i] < offset) {
      room->offsets[i] = offset;
      member->send(frame);  // may close a slow consumer, which leaves the room
    }
    if (i < room->members.size() && room->members[i] == member) ++i;
  }
  --room->visits;
  erase_if_unused(*room);
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
  if (!room.recovering.empty()) {
    room.recovering.erase(
        std::remove_if(room.recovering.begin(), room.recovering.end(),
                       [&](const LocalRoom::Recovering& r) { return r.session == &session; }),
        room.recovering.end());
  }
  auto position = std::find(room.members.begin(), room.members.end(), &session);
  if (position != room.members.end()) {
    if (room.keeps_history) {
      room.offsets[static_cast<size_t>(position - room.members.begin())] = room.offsets.back();
      room.offsets.pop_back();
    }
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
