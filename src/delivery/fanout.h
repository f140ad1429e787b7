// Fan-out: getting one shared frame to every recipient, on whichever loops — and, in cluster
// mode, nodes — they live. The Directory says which loops of this node to reach; the origin
// loop's recipients are served at once, other loops get a task in this turn's batch
// (LoopDelivery::post); then the loop's Broker, when there is one, hands the frame to the other
// nodes (delivery/broker.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "delivery/room_history.h"
#include "frames/out_frame.h"

namespace dispatch {

class LoopDelivery;
class Session;

void publish_to_room(LoopDelivery& origin, std::string_view room, const FrameRef& frame);
void publish_to_user(LoopDelivery& origin, std::string_view user, const FrameRef& frame);
void publish_to_all(LoopDelivery& origin, const FrameRef& frame);

// --- rooms that keep history (delivery/room_history.h): on a single node
// A room message: `build(offset, epoch)` makes its frame, which is kept and handed to every loop
// with members in offset order. Returns true when this loop's members have it now; false when
// older messages of the room are still on their way to this loop — its members get it after
// them, and then `delivered_here` runs (on this loop).
using HistoryFrameBuilder = std::function<FrameRef(uint64_t offset, std::string_view epoch)>;
bool publish_to_history_room(LoopDelivery& origin, std::string_view room,
                             const HistoryLimits& limits, SteadyTime now,
                             const HistoryFrameBuilder& build,
                             std::function<void()> delivered_here);

// Joins `session` (of this loop) to a room that keeps history. With `since`, the messages after
// it are queued to the session first, when they are all still kept and the epoch matches (`ok`);
// without, `last` > 0 queues the room's last `last` kept messages first. Either way the session
// is given only messages after `position` from then on: nothing twice, nothing out of order.
struct HistoryJoin {
  bool joined = false;  // false: it was a member already
  bool ok = true;       // the replay was complete (meaningful with `since`)
  HistoryPosition position;
};
HistoryJoin join_with_history(LoopDelivery& origin, Session& session, std::string_view room,
                              bool counts_users, SteadyTime now,
                              const std::optional<HistoryPosition>& since, uint32_t last = 0);

// The position and the kept frames after `offset` (the server API's history), or nothing when
// the room keeps no messages.
std::optional<HistoryRead> read_history(RoomHistory& history, std::string_view room, SteadyTime now,
                                        uint64_t offset);

// In cluster mode: a history frame from Redis (cluster/cluster_history.cpp), on the loop that
// holds the room's shard — the room's only producer on this node, so each loop receives them in
// offset order.
void deliver_history_frame(LoopDelivery& origin, std::string_view room, const FrameRef& frame,
                           uint64_t offset);

// Joins every live session of `user`, on every loop, to `room`. Loops that have to do the join
// later count as members at once, so a publish right after reaches them. `counts_users` (a
// max_members policy): the user stays counted in the room while those joins are in flight.
// In cluster mode also on other nodes; then `joined_everywhere`, when given, is called (from any
// thread) once every node with sessions of the user receives what is published to the room (see
// Broker::join_user); on a single node it is called at once.
void join_user_to_room(LoopDelivery& origin, std::string_view user, std::string_view room,
                       bool counts_users = false, std::function<void()> joined_everywhere = {});
void leave_user_from_room(LoopDelivery& origin, std::string_view user, std::string_view room);

// Closes every session of `user`, on every loop, with `code` and `reason` (`_disconnect`).
void disconnect_user(LoopDelivery& origin, std::string_view user, uint16_t code,
                     std::string_view reason);

// The same, on this node's loops only: for what another node published (the cluster layer).
namespace node_local {
void publish_to_room(LoopDelivery& origin, std::string_view room, const FrameRef& frame);
void publish_to_user(LoopDelivery& origin, std::string_view user, const FrameRef& frame);
void publish_to_all(LoopDelivery& origin, const FrameRef& frame);
void join_user_to_room(LoopDelivery& origin, std::string_view user, std::string_view room,
                       bool counts_users);
void leave_user_from_room(LoopDelivery& origin, std::string_view user, std::string_view room);
void disconnect_user(LoopDelivery& origin, std::string_view user, uint16_t code,
                     std::string_view reason);
}  // namespace node_local

}  // namespace dispatch
