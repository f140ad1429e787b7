// Work one event loop hands to another for delivery: a frame for local members of a room, for a
// user's local sessions or for everyone; a join or leave for a user's local sessions; closing one
// session of a user (it was replaced by a newer one), or all of them (`_disconnect`). Each kind
// carries only what it needs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <variant>

#include "frames/out_frame.h"

namespace dispatch {

struct DeliverToRoom {
  std::string room;
  FrameRef frame;
};
struct DeliverToUser {
  std::string user;
  FrameRef frame;
};
struct DeliverToAll {
  FrameRef frame;
};
// Releases one in-flight reference of the room on the target loop once applied (and, when
// `counts_users`, one in-flight reference of the user in the room's distinct-user count).
struct JoinUser {
  std::string user;
  std::string room;
  bool counts_users = false;
};
struct LeaveUser {
  std::string user;
  std::string room;
};
struct CloseUserSession {
  std::string user;
  uint64_t session = 0;  // Session::number()
  uint16_t code = 0;
  std::string reason;
};

// Closing every session of a user on the target loop (`_disconnect`).
struct CloseUser {
  std::string user;
  uint16_t code = 0;
  std::string reason;
};

// A message of a room that keeps history, handed over under the room's lock so that every loop
// gets the room's messages in offset order (delivery/room_history.h); `then`, when set, runs
// on the target loop once its members have it.
struct DeliverHistory {
  std::string room;
  FrameRef frame;
  uint64_t offset = 0;
  std::function<void()> then;
};

// Work for the cluster broker on the loop that holds the Redis connection it needs (a message to
// publish on a shard, a subscription to bring up to date): opaque to delivery (delivery/broker.h).
struct ToBroker {
  uint32_t shard = 0;
  uint8_t kind = 0;
  std::string channel;
  std::string message;
  std::function<void()> done;
  uint32_t request = 0;
};

using DeliveryTask = std::variant<DeliverToRoom, DeliverToUser, DeliverToAll, JoinUser, LeaveUser,
                                  CloseUserSession, CloseUser, ToBroker, DeliverHistory>;

}  // namespace dispatch
