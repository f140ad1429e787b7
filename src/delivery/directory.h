// The process-wide directory: which event loops have members of a room, and which connections
// (and on which loops) a user has. Publishing reads it to know which loops to hand a frame to;
// each loop keeps its own room → connection lists (rooms/local_rooms.h).
//
// It is sharded by key hash, each shard with its own mutex, so loops rarely contend and no lock
// is ever held while sending. A room's per-loop count is "local memberships + joins in flight":
// a `_join` posted to another loop counts at once, so a `_notify_room` right after it already
// includes that loop (DESIGN.md: a superset is fine, a subset is not). Rooms under a
// max_members policy also count their distinct users here, in the room's shard: O(1) per join
// and leave, and nothing at all for the other rooms.
#pragma once

#include <boost/container/small_vector.hpp>

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dispatch {

// Who is in a room (`presence: true`): its distinct users, sorted, and its member connections.
struct RoomPresence {
  std::vector<std::string> users;
  uint64_t connections = 0;
};

// Connection numbers are process-unique; the id a client sees adds the node id.
struct UserConnection {
  uint64_t number;
  uint16_t loop;
};

// Lookups by string_view without building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

// Told when this node gets its first member of a room (or join in flight to it) or loses its
// last one, and likewise a user's first and last connection: cluster mode follows them with its
// Redis subscriptions. Called on the thread of the loop that made the change, after the
// Directory's lock is released; another change may already have followed, so a listener reads
// the Directory again for the current state.
class PresenceListener {
 public:
  virtual void room_presence_changed(std::string_view room) = 0;
  virtual void user_presence_changed(std::string_view user) = 0;
  // A user's count changed in a room that counts its users (a max_members or presence policy):
  // it came to be counted, stopped being counted, or has more or fewer connections in it.
  virtual void room_user_changed(std::string_view room, std::string_view user) = 0;

 protected:
  ~PresenceListener() = default;
};

class Directory {
 public:
  static constexpr size_t max_loops = 64;

  explicit Directory(size_t loop_count) : loop_count_(loop_count) {}
  unsigned loop_count() const { return static_cast<unsigned>(loop_count_); }
  // Set once before the loops start (cluster mode); none by default.
  void set_presence_listener(PresenceListener* listener) { listener_ = listener; }

  // Bit i set: loop i has members of the room (or a join in flight to it).
  uint64_t room_loops(std::string_view room) const;
  // Adds `delta` to loop's count for the room; the room disappears when every count is zero.
  // A release without its add is a bug: it asserts (debug builds) and is counted exactly.
  void add_room_refs(std::string_view room, unsigned loop, int delta);
  size_t room_count() const;

  // --- distinct users of the rooms that have a max_members or presence policy (no entry for
  // other rooms).
  // A user's count in a room is its member connections on every loop, plus joins of it in
  // flight, plus a reservation held while a `_join` is being applied.
  // Adds a reservation for `user` and returns true when the user is counted in the room
  // already or the room has fewer than `max_members` distinct users; false (nothing added) when
  // the room is full. The caller releases the reservation with add_room_user_refs(-1).
  bool reserve_room_user(std::string_view room, std::string_view user, uint32_t max_members);
  void add_room_user_refs(std::string_view room, std::string_view user, int delta);
  size_t room_user_count(std::string_view room) const;
  bool room_user_counted(std::string_view room, std::string_view user) const;
  // The user's count in the room (0 when not counted).
  int32_t room_user_refs(std::string_view room, std::string_view user) const;
  // The room's users and the sum of their counts (its member connections once joins in flight
  // have landed).
  RoomPresence room_presence(std::string_view room) const;
  // Every counted user of every room, with its count: what this node writes to Redis again when
  // a Redis shard comes back without its data (cluster mode).
  struct RoomUserCount {
    std::string room;
    std::string user;
    int32_t refs;
  };
  std::vector<RoomUserCount> room_user_counts() const;

  uint64_t user_loops(std::string_view user) const;
  std::vector<UserConnection> user_connections(std::string_view user) const;

  // Admits a new connection of `user` under a per-user limit (0 = none). With `cycle`, returns
  // the user's oldest connection, which the caller must close; with reject, returns false
  // when the user is at the limit. `replaced` is set only when one must be closed.
  bool admit_connection(std::string_view user, UserConnection connection, uint32_t max_per_user,
                        bool cycle, std::optional<UserConnection>& replaced);
  void remove_connection(std::string_view user, uint64_t number);

 private:
  struct RoomEntry {
    boost::container::small_vector<int32_t, 2> counts;  // per loop
    uint64_t loops = 0;
  };
  struct UserEntry {
    boost::container::small_vector<UserConnection, 1> connections;  // oldest first
  };
  using RoomUsers = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;
  using RoomMap = std::unordered_map<std::string, RoomEntry, StringHash, std::equal_to<>>;
  struct Shard {
    mutable std::mutex mutex;
    RoomMap rooms;
    std::unordered_map<std::string, RoomUsers, StringHash, std::equal_to<>> room_users;
    std::unordered_map<std::string, UserEntry, StringHash, std::equal_to<>> users;
  };
  static constexpr size_t shard_count = 64;

  // Returns whether the room has members on some loop afterwards.
  bool add_room_refs_locked(Shard& shard, RoomMap::iterator found, std::string_view room,
                            unsigned loop, int delta);
  Shard& shard_for(std::string_view key) const { return shards_[StringHash{}(key) % shard_count]; }

  size_t loop_count_;
  PresenceListener* listener_ = nullptr;
  mutable std::array<Shard, shard_count> shards_;
};

}  // namespace dispatch
