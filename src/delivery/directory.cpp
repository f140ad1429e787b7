#include "delivery/directory.h"

#include <algorithm>
#include <cassert>

namespace dispatch {

uint64_t Directory::room_loops(std::string_view room) const {
  Shard& shard = shard_for(room);
  std::lock_guard lock(shard.mutex);
  auto found = shard.rooms.find(room);
  return found == shard.rooms.end() ? 0 : found->second.loops;
}

void Directory::add_room_refs(std::string_view room, unsigned loop, int delta) {
  if (delta == 0) return;
  bool present_before = false;
  bool present_after = false;
  {
    Shard& shard = shard_for(room);
    std::lock_guard lock(shard.mutex);
    auto found = shard.rooms.find(room);
    present_before = found != shard.rooms.end() && found->second.loops != 0;
    present_after = add_room_refs_locked(shard, found, room, loop, delta);
  }
  if (listener_ && present_before != present_after) listener_->room_presence_changed(room);
}

bool Directory::add_room_refs_locked(Shard& shard, RoomMap::iterator found, std::string_view room,
                                     unsigned loop, int delta) {
  if (found == shard.rooms.end()) found = shard.rooms.try_emplace(std::string(room)).first;
  RoomEntry& entry = found->second;
  if (entry.counts.size() < loop_count_) entry.counts.resize(loop_count_, 0);
  int32_t& count = entry.counts[loop];
  // Every release follows its add (a membership or an in-flight join), so a count never goes
  // below zero. Should one ever do, it is kept as it is (not clamped), so that the add which
  // follows brings it back to exactly zero instead of leaving a phantom member.
  assert(count + delta >= 0 && "a room reference released that was never added");
  count += delta;
  if (count > 0) {
    entry.loops |= uint64_t{1} << loop;
    return true;
  }
  entry.loops &= ~(uint64_t{1} << loop);
  const bool present = entry.loops != 0;
  if (!present &&
      std::all_of(entry.counts.begin(), entry.counts.end(), [](int32_t c) { return c == 0; })) {
    shard.rooms.erase(found);
  }
  return present;
}

size_t Directory::room_count() const {
  size_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += shard.rooms.size();
  }
  return total;
}

bool Directory::reserve_room_user(std::string_view room, std::string_view user,
                                  uint32_t max_members) {
  {
    Shard& shard = shard_for(room);
    std::lock_guard lock(shard.mutex);
    auto found = shard.room_users.find(room);
    if (found == shard.room_users.end()) {
      if (max_members == 0) return false;
      found = shard.room_users.try_emplace(std::string(room)).first;
    }
    RoomUsers& users = found->second;
    auto member = users.find(user);
    if (member == users.end()) {
      if (users.size() >= max_members) return false;
      member = users.try_emplace(std::string(user), 0).first;
    }
    ++member->second;
  }
  if (listener_) listener_->room_user_changed(room, user);
  return true;
}

void Directory::add_room_user_refs(std::string_view room, std::string_view user, int delta) {
  if (delta == 0) return;
  bool changed = false;
  {
    Shard& shard = shard_for(room);
    std::lock_guard lock(shard.mutex);
    auto found = shard.room_users.find(room);
    if (found == shard.room_users.end()) {
      assert(delta > 0 && "a room user released that was never added");
      found = shard.room_users.try_emplace(std::string(room)).first;
    }
    RoomUsers& users = found->second;
    auto member = users.find(user);
    if (member == users.end()) {
      member = users.try_emplace(std::string(user), 0).first;
      changed = true;
    }
    assert(member->second + delta >= 0 && "a room user released that was never added");
    member->second += delta;
    if (member->second == 0) {
      users.erase(member);
      if (users.empty()) shard.room_users.erase(found);
      changed = !changed;  // added and gone in one call is no change
    } else {
      changed = true;  // counted, with another count
    }
  }
  if (listener_ && changed) listener_->room_user_changed(room, user);
}

bool Directory::room_user_counted(std::string_view room, std::string_view user) const {
  Shard& shard = shard_for(room);
  std::lock_guard lock(shard.mutex);
  auto found = shard.room_users.find(room);
  return found != shard.room_users.end() && found->second.contains(user);
}

int32_t Directory::room_user_refs(std::string_view room, std::string_view user) const {
  Shard& shard = shard_for(room);
  std::lock_guard lock(shard.mutex);
  auto found = shard.room_users.find(room);
  if (found == shard.room_users.end()) return 0;
  auto member = found->second.find(user);
  return member == found->second.end() ? 0 : member->second;
}

std::vector<Directory::RoomUserCount> Directory::room_user_counts() const {
  std::vector<RoomUserCount> counts;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (const auto& [room, users] : shard.room_users) {
      for (const auto& [user, refs] : users) {
        if (refs > 0) counts.push_back({room, user, refs});
      }
    }
  }
  return counts;
}

RoomPresence Directory::room_presence(std::string_view room) const {
  RoomPresence presence;
  {
    Shard& shard = shard_for(room);
    std::lock_guard lock(shard.mutex);
    auto found = shard.room_users.find(room);
    if (found == shard.room_users.end()) return presence;
    presence.users.reserve(found->second.size());
    for (const auto& [user, refs] : found->second) {
      presence.users.push_back(user);
      presence.connections += static_cast<uint64_t>(refs);
    }
  }
  std::sort(presence.users.begin(), presence.users.end());
  return presence;
}

size_t Directory::room_user_count(std::string_view room) const {
  Shard& shard = shard_for(room);
  std::lock_guard lock(shard.mutex);
  auto found = shard.room_users.find(room);
  return found == shard.room_users.end() ? 0 : found->second.size();
}

uint64_t Directory::user_loops(std::string_view user) const {
  Shard& shard = shard_for(user);
  std::lock_guard lock(shard.mutex);
  auto found = shard.users.find(user);
  if (found == shard.users.end()) return 0;
  uint64_t loops = 0;
  for (const UserConnection& connection : found->second.connections) {
    loops |= uint64_t{1} << connection.loop;
  }
  return loops;
}

std::vector<UserConnection> Directory::user_connections(std::string_view user) const {
  Shard& shard = shard_for(user);
  std::lock_guard lock(shard.mutex);
  auto found = shard.users.find(user);
  if (found == shard.users.end()) return {};
  return {found->second.connections.begin(), found->second.connections.end()};
}

bool Directory::admit_connection(std::string_view user, UserConnection connection,
                                 uint32_t max_per_user, bool cycle,
                                 std::optional<UserConnection>& replaced) {
  replaced.reset();
  bool first = false;
  {
    Shard& shard = shard_for(user);
    std::lock_guard lock(shard.mutex);
    auto found = shard.users.find(user);
    if (found == shard.users.end()) {
      found = shard.users.try_emplace(std::string(user)).first;
      first = true;
    }
    auto& connections = found->second.connections;
    if (max_per_user > 0 && connections.size() >= max_per_user) {
      if (!cycle) return false;
      replaced = connections.front();
      connections.erase(connections.begin());
    }
    connections.push_back(connection);
  }
  if (listener_ && first) listener_->user_presence_changed(user);
  return true;
}

void Directory::remove_connection(std::string_view user, uint64_t number) {
  bool last = false;
  {
    Shard& shard = shard_for(user);
    std::lock_guard lock(shard.mutex);
    auto found = shard.users.find(user);
    if (found == shard.users.end()) return;
    auto& connections = found->second.connections;
    connections.erase(std::remove_if(connections.begin(), connections.end(),
                                     [&](const UserConnection& c) { return c.number == number; }),
                      connections.end());
    if (connections.empty()) {
      shard.users.erase(found);
      last = true;
    }
  }
  if (listener_ && last) listener_->user_presence_changed(user);
}

}  // namespace dispatch
