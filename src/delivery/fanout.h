// Fan-out: getting one shared frame to every recipient, on whichever loops — and, in cluster
// mode, nodes — they live. The Directory says which loops of this node to reach; the origin
// loop's recipients are served at once, other loops get a task in this turn's batch
// (LoopDelivery::post); then the loop's Broker, when there is one, hands the frame to the other
// nodes (delivery/broker.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "frames/out_frame.h"

namespace dispatch {

class LoopDelivery;

void publish_to_room(LoopDelivery& origin, std::string_view room, const FrameRef& frame);
void publish_to_user(LoopDelivery& origin, std::string_view user, const FrameRef& frame);
void publish_to_all(LoopDelivery& origin, const FrameRef& frame);

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
