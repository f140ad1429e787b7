// The broker seam (DESIGN.md): how fan-out reaches recipients on other cluster nodes. A single
// node has none — LoopDelivery::broker() is null, and fan-out pays one null test. In cluster mode
// each event loop has one (cluster/ClusterBroker), which publishes the ready-built frame to Redis
// for the nodes that have recipients. Called on its loop's thread only, after the local part of
// the fan-out is done.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "delivery/delivery_task.h"
#include "delivery/directory.h"
#include "delivery/room_history.h"
#include "frames/out_frame.h"

namespace dispatch {

class Broker {
 public:
  virtual void to_room(std::string_view room, const FrameRef& frame) = 0;
  virtual void to_user(std::string_view user, const FrameRef& frame) = 0;
  virtual void to_all(const FrameRef& frame) = 0;
  // The user's sessions on other nodes join or leave the room; close them (`_disconnect`).
  // `joined_everywhere`, when given, is called (from any thread) once every node that has
  // sessions of the user receives the room's traffic, or after a deadline.
  virtual void join_user(std::string_view user, std::string_view room, bool counts_users,
                         std::function<void()> joined_everywhere) = 0;
  virtual void leave_user(std::string_view user, std::string_view room) = 0;
  virtual void close_user(std::string_view user, uint16_t code, std::string_view reason) = 0;

  // Whether this node receives what other nodes publish to `room` already, as far as this loop
  // can tell without asking another one (false: ask when_room_reachable).
  virtual bool room_reachable(std::string_view room) = 0;
  // Calls `reachable` (from any thread, now or later) once this node receives what other nodes
  // publish to `room`: at once when it does already, when the room has no member here any
  // longer, or while the room's Redis is unreachable (delivery is node-local then).
  virtual void when_room_reachable(std::string_view room, std::function<void()> reachable) = 0;

  // rate_limit across the cluster: `done` (from any thread) gets 0 when the hit passes, the
  // milliseconds to wait when it does not, or nothing when Redis could not be asked (the caller
  // then counts on this node alone).
  virtual void rate_hit(std::string key, uint32_t limit, std::chrono::milliseconds window,
                        std::function<void(std::optional<int64_t>)> done) = 0;

  // A room's max_members across the cluster: `done` (from any thread) gets whether `user` may
  // join (counted already, or fewer distinct users than `max_members`; then counted), or nothing
  // when Redis could not be asked (the caller applies the node's own count).
  virtual void admit_room_user(std::string room, std::string user, uint32_t max_members,
                               std::function<void(std::optional<bool>)> done) = 0;

  // A presence room's users and connections on every node: `done` (from any thread) gets them,
  // or nothing when Redis could not be asked (the caller answers with the node's own).
  virtual void room_presence(std::string room,
                             std::function<void(std::optional<RoomPresence>)> done) = 0;

  // --- rooms that keep history, in Redis (cluster/cluster_history.cpp)
  // A room message: the room's shard gives it the next offset, keeps it and publishes it to
  // every node — this one too, which delivers it from there, so every node's members get the
  // room's messages in offset order. `json_prefix` is the frame's JSON without its closing brace
  // (Redis adds the offset and the epoch). `done` (any thread) gets the offset once this node's
  // members have the message (at once when there are none here), or nothing when Redis could not
  // be asked — then nobody got it.
  virtual void publish_history(std::string room, std::string json_prefix, HistoryLimits limits,
                               std::function<void(std::optional<uint64_t>)> done) = 0;
  // The room's position and its kept messages after `since`, or nothing when Redis could not be
  // asked; `done` from any thread.
  virtual void read_history(std::string room, uint64_t since, std::chrono::milliseconds ttl,
                            std::function<void(std::optional<HistoryRead>)> done) = 0;
  // The room's position and its last `last` kept messages (from `first_offset`, `complete`).
  virtual void read_last_history(std::string room, uint32_t last, std::chrono::milliseconds ttl,
                                 std::function<void(std::optional<HistoryRead>)> done) = 0;

  // A task another loop of this node queued for the broker here (ToBroker: this loop holds the
  // Redis connection it needs).
  virtual void run(ToBroker& task) = 0;

 protected:
  ~Broker() = default;
};

}  // namespace dispatch
