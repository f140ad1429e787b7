#include "cluster/cluster_broker.h"

#include <memory>
#include <tuple>

#include "cluster/cluster_node.h"
#include "cluster/wire_message.h"
#include "delivery/loop_delivery.h"

namespace dispatch::cluster {

void ClusterBroker::to_room(std::string_view room, const FrameRef& frame) {
  const RedisNames& names = node_.names();
  publish(names.room_shard(room), names.room(room),
          encode_frame(WireKind::room_frame, node_.node_id(), room, frame->bytes()));
}

void ClusterBroker::to_user(std::string_view user, const FrameRef& frame) {
  const RedisNames& names = node_.names();
  publish(names.user_shard(user), names.user(user),
          encode_frame(WireKind::user_frame, node_.node_id(), user, frame->bytes()));
}

void ClusterBroker::to_all(const FrameRef& frame) {
  publish(RedisNames::everyone_shard, node_.names().everyone(),
          encode_frame(WireKind::all_frame, node_.node_id(), "", frame->bytes()));
}

void ClusterBroker::join_user(std::string_view user, std::string_view room, bool counts_users,
                              std::function<void()> joined_everywhere) {
  const RedisNames& names = node_.names();
  const uint32_t request =
      joined_everywhere
          ? node_.await_answers(loop_, [done = std::move(joined_everywhere)](auto) { done(); })
          : 0;
  publish(names.user_shard(user), names.user(user),
          encode_join(node_.node_id(), user, room, counts_users, request), request);
}

void ClusterBroker::leave_user(std::string_view user, std::string_view room) {
  const RedisNames& names = node_.names();
  publish(names.user_shard(user), names.user(user), encode_leave(node_.node_id(), user, room));
}

void ClusterBroker::close_user(std::string_view user, uint16_t code, std::string_view reason) {
  const RedisNames& names = node_.names();
  publish(names.user_shard(user), names.user(user),
          encode_close(node_.node_id(), user, code, reason));
}

bool ClusterBroker::room_reachable(std::string_view room) {
  const unsigned owner = node_.owner_loop(node_.names().room_shard(room));
  return owner == loop_ && node_.room_reachable(room);
}

void ClusterBroker::when_room_reachable(std::string_view room, std::function<void()> reachable) {
  const uint32_t shard = node_.names().room_shard(room);
  const unsigned owner = node_.owner_loop(shard);
  if (owner == loop_) {
    node_.when_room_reachable(room, std::move(reachable));
    return;
  }
  delivery_.post(owner,
                 ToBroker{shard, reachable_task, std::string(room), {}, std::move(reachable)});
}

void ClusterBroker::rate_hit(std::string key, uint32_t limit, std::chrono::milliseconds window,
                             std::function<void(std::optional<int64_t>)> done) {
  node_.rate_hit(std::move(key), limit, window, std::move(done));
}

void ClusterBroker::room_presence(std::string room,
                                  std::function<void(std::optional<RoomPresence>)> done) {
  node_.room_presence(std::move(room), std::move(done));
}

void ClusterBroker::admit_room_user(std::string room, std::string user, uint32_t max_members,
                                    std::function<void(std::optional<bool>)> done) {
  node_.admit_room_user(std::move(room), std::move(user), max_members, std::move(done));
}

// On the loop that owns the room's shard, after what this loop queued for it already (one
// sender's order), at once rather than at the end of the turn.
void ClusterBroker::publish_history(std::string room, std::string json_prefix, HistoryLimits limits,
                                    std::function<void(std::optional<uint64_t>)> done) {
  const uint32_t shard = node_.names().room_shard(room);
  const unsigned owner = node_.owner_loop(shard);
  if (owner == loop_) {
    node_.publish_history(shard, std::move(room), std::move(json_prefix), limits, std::move(done));
    return;
  }
  auto work = std::make_shared<
      std::tuple<std::string, std::string, std::function<void(std::optional<uint64_t>)>>>(
      std::move(room), std::move(json_prefix), std::move(done));
  ClusterNode& node = node_;
  delivery_.send_now(owner, ToBroker{shard, run_task, {}, {}, [&node, shard, limits, work] {
                                       auto& [room, prefix, done] = *work;
                                       node.publish_history(shard, std::move(room),
                                                            std::move(prefix), limits,
                                                            std::move(done));
                                     }});
}

void ClusterBroker::read_history(std::string room, uint64_t since, std::chrono::milliseconds ttl,
                                 std::function<void(std::optional<HistoryRead>)> done) {
  node_.read_history(std::move(room), since, ttl, std::move(done));
}

void ClusterBroker::read_last_history(std::string room, uint32_t last,
                                      std::chrono::milliseconds ttl,
                                      std::function<void(std::optional<HistoryRead>)> done) {
  node_.read_last_history(std::move(room), last, ttl, std::move(done));
}

void ClusterBroker::run(ToBroker& task) {
  switch (task.kind) {
    case run_task:
      task.done();
      break;
    case publish_task:
      node_.publish(task.shard, std::move(task.channel), std::move(task.message), task.request);
      break;
    case reachable_task:
      node_.when_room_reachable(task.channel, std::move(task.done));
      break;
    default:
      break;
  }
}

void ClusterBroker::publish(uint32_t shard, std::string channel, std::string message,
                            uint32_t request) {
  const unsigned owner = node_.owner_loop(shard);
  if (owner == loop_) {
    node_.publish(shard, std::move(channel), std::move(message), request);
    return;
  }
  delivery_.post(
      owner, ToBroker{shard, publish_task, std::move(channel), std::move(message), {}, request});
}

}  // namespace dispatch::cluster
