// Fan-out: getting one shared frame to every recipient, on whichever loops they live. The
// Directory says which loops to reach; the origin loop's recipients are served at once, other
// loops get a task in this turn's batch (LoopDelivery::post).
#pragma once

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
void join_user_to_room(LoopDelivery& origin, std::string_view user, std::string_view room,
                       bool counts_users = false);
void leave_user_from_room(LoopDelivery& origin, std::string_view user, std::string_view room);

// Closes every session of `user`, on every loop, with `code` and `reason` (`_disconnect`).
void disconnect_user(LoopDelivery& origin, std::string_view user, uint16_t code,
                     std::string_view reason);

}  // namespace dispatch
