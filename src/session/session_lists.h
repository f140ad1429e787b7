// The small lists that tie sessions and rooms together: a room's members, a user's sessions on
// one loop, the rooms a session is in.
#pragma once

#include <boost/container/small_vector.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "frames/out_frame.h"

namespace dispatch {

class Session;
struct LocalRoom;

// Lists that hold one element without a heap allocation: most users have one connection, most
// connections are in one room, and an idle connection's memory is counted in these.
using SessionList = boost::container::small_vector<Session*, 1>;
using RoomList = boost::container::small_vector<LocalRoom*, 1>;

// A room on one loop (delivery/local_rooms.h keeps them): its name and its sessions there.
struct LocalRoom {
  std::string name;
  SessionList members;
  uint32_t visits = 0;  // deliveries in progress: the room is not erased under them
  // Under a max_members or presence policy: each membership counts its user in the Directory.
  bool counts_users = false;
  // Under a history policy: for each member (same index as `members`), the offset of the last
  // room message it was given, so a frame that reaches it twice (a replay, then the same
  // message live) is given once.
  bool keeps_history = false;
  std::vector<uint64_t> offsets;
  // Cluster mode: members waiting for their replay from Redis; the room's messages for them are
  // held here meanwhile (LocalRooms::begin_recovery / finish_recovery).
  struct Recovering {
    Session* session;
    std::vector<std::pair<uint64_t, FrameRef>> held;
  };
  std::vector<Recovering> recovering;
};

}  // namespace dispatch
