// Cluster-wide limits and node leases (docs/CLUSTER.md): the heartbeat that renews this node's
// lease in every shard, admission of connections under the per-user and per-IP limits, a room's
// max_members, and cluster-wide rate limits. Each asks the Redis shard of its key with one script
// (cluster/redis_scripts.h), on the loop that owns that shard; answers go back to the caller.
#include <fmt/format.h>

#include <boost/asio/post.hpp>

#include <charconv>
#include <utility>

#include "cluster/cluster_node.h"
#include "cluster/cluster_shard.h"
#include "cluster/redis_scripts.h"
#include "cluster/wire_message.h"
#include "delivery/loop_delivery.h"

namespace dispatch::cluster {

void ClusterNode::on_shard(uint32_t shard, std::function<void(Shard&)> work) {
  boost::asio::post(*loops_[shards_[shard]->owner].io,
                    [this, shard, work = std::move(work)] { work(*shards_[shard]); });
}

void ClusterNode::renew_lease(Shard& shard) {
  run_script(*shard.publisher, heartbeat_script(), {names_.node_leases()},
             {node_id_, std::to_string(node_lease_.count())}, [](const redis::RedisReply&) {});
}

// Renews the lease every third of its length; a failure (Redis down) waits for the next turn.
void ClusterNode::heartbeat(Shard& shard) {
  renew_lease(shard);
  shard.heartbeat_timer->expires_after(node_lease_ / 3);
  shard.heartbeat_timer->async_wait([this, &shard](const boost::system::error_code& error) {
    if (!error) heartbeat(shard);
  });
}

namespace {

// The admit script's answer: {1, replaced} or {0, ""}; nothing when Redis could not run it.
std::optional<std::pair<bool, std::string>> admit_reply(const redis::RedisReply& reply) {
  if (reply.type != redis::RedisReply::Type::array || reply.elements.size() != 2 ||
      reply.elements[0].type != redis::RedisReply::Type::integer) {
    return std::nullopt;
  }
  return std::make_pair(reply.elements[0].integer == 1, reply.elements[1].text);
}

}  // namespace

void ClusterNode::admit(unsigned loop, Admission admission,
                        std::function<void(AdmissionAnswer)> done) {
  struct Flow {
    Admission admission;
    std::function<void(AdmissionAnswer)> done;
    AdmissionAnswer answer;
    std::atomic<int> parts{2};  // the limits' answer and the user's channel
  };
  auto flow = std::make_shared<Flow>();
  flow->admission = std::move(admission);
  flow->done = std::move(done);
  // Each part ends once, on whichever loop; the last one answers on the connection's loop.
  auto part_done = [this, loop](const std::shared_ptr<Flow>& flow) {
    if (flow->parts.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    boost::asio::post(*loops_[loop].io, [flow] { flow->done(std::move(flow->answer)); });
  };
  // The user's channel is subscribed before the connection is admitted, so what another node
  // publishes to the user right after the welcome reaches it (released by end_admission).
  if (flow->admission.user.empty()) {
    part_done(flow);
  } else {
    on_shard(names_.user_shard(flow->admission.user), [this, flow, part_done](Shard& shard) {
      const std::string& user = flow->admission.user;
      ++shard.users_admitting[user];
      follow_user(user);
      shard.subscriber->subscribe(names_.user(user), [flow, part_done] { part_done(flow); });
    });
  }
  const auto finish = part_done;
  // The user's set, after the IP's (when both count).
  auto admit_user = [this, flow, finish] {
    const Admission& request = flow->admission;
    if (request.user.empty() || request.max_per_user == 0) {
      flow->answer.outcome = AdmissionAnswer::Outcome::admitted;
      finish(flow);
      return;
    }
    on_shard(names_.user_shard(request.user), [this, flow, finish](Shard& shard) {
      const Admission& request = flow->admission;
      run_script(*shard.publisher, admit_script(),
                 {names_.user_connections(request.user), names_.node_leases()},
                 {request.connection, node_id_, std::to_string(request.max_per_user),
                  request.cycle ? "1" : "0", std::to_string(node_lease_.count())},
                 [this, flow, finish](const redis::RedisReply& reply) {
                   auto decided = admit_reply(reply);
                   if (!decided) {
                     flow->answer.outcome = AdmissionAnswer::Outcome::undecided;
                   } else if (!decided->first) {
                     flow->answer.outcome = AdmissionAnswer::Outcome::user_full;
                     Admission ip_only = flow->admission;
                     ip_only.user.clear();
                     release(ip_only);
                   } else {
                     flow->answer.outcome = AdmissionAnswer::Outcome::admitted;
                     flow->answer.replaced = std::move(decided->second);
                   }
                   finish(flow);
                 });
    });
  };
  const Admission& request = flow->admission;
  if (request.ip.empty() || request.max_per_ip == 0) {
    admit_user();
    return;
  }
  on_shard(names_.ip_shard(request.ip), [this, flow, finish, admit_user](Shard& shard) {
    const Admission& request = flow->admission;
    run_script(*shard.publisher, admit_script(),
               {names_.ip_connections(request.ip), names_.node_leases()},
               {request.connection, node_id_, std::to_string(request.max_per_ip), "0",
                std::to_string(node_lease_.count())},
               [flow, finish, admit_user](const redis::RedisReply& reply) {
                 auto decided = admit_reply(reply);
                 if (decided && decided->first) {
                   admit_user();
                   return;
                 }
                 flow->answer.outcome = decided ? AdmissionAnswer::Outcome::ip_full
                                                : AdmissionAnswer::Outcome::undecided;
                 finish(flow);
               });
  });
}

void ClusterNode::end_admission(const std::string& user) {
  if (user.empty()) return;
  on_shard(names_.user_shard(user), [this, user](Shard& shard) {
    auto admitting = shard.users_admitting.find(user);
    if (admitting != shard.users_admitting.end() && --admitting->second == 0) {
      shard.users_admitting.erase(admitting);
    }
    follow_user(user);  // the Directory has the user's connection now, if it was admitted
  });
}

void ClusterNode::release(const Admission& admission) {
  if (!admission.user.empty() && admission.max_per_user > 0) {
    on_shard(names_.user_shard(admission.user),
             [this, user = admission.user, connection = admission.connection](Shard& shard) {
               shard.publisher->command({"ZREM", names_.user_connections(user), connection}, {});
             });
  }
  if (!admission.ip.empty() && admission.max_per_ip > 0) {
    on_shard(names_.ip_shard(admission.ip),
             [this, ip = admission.ip, connection = admission.connection](Shard& shard) {
               shard.publisher->command({"ZREM", names_.ip_connections(ip), connection}, {});
             });
  }
}

void ClusterNode::rate_hit(std::string key, uint32_t limit, std::chrono::milliseconds window,
                           std::function<void(std::optional<int64_t>)> done) {
  const uint32_t shard = names_.rate_shard(key);
  on_shard(shard, [this, key = std::move(key), limit, window,
                   done = std::move(done)](Shard& shard) mutable {
    run_script(*shard.publisher, rate_script(), {names_.rate_window(key)},
               {std::to_string(limit), std::to_string(window.count())},
               [done = std::move(done)](const redis::RedisReply& reply) {
                 if (reply.type != redis::RedisReply::Type::integer) {
                   done(std::nullopt);
                   return;
                 }
                 done(reply.integer);
               });
  });
}

void ClusterNode::admit_room_user(std::string room, std::string user, uint32_t max_members,
                                  std::function<void(std::optional<bool>)> done) {
  const uint32_t shard = names_.room_shard(room);
  on_shard(shard, [this, room = std::move(room), user = std::move(user), max_members,
                   done = std::move(done)](Shard& shard) mutable {
    run_script(*shard.publisher, room_admit_script(),
               {names_.room_users(room), names_.node_leases()},
               {node_id_, user, std::to_string(max_members), std::to_string(node_lease_.count())},
               [done = std::move(done)](const redis::RedisReply& reply) {
                 if (reply.type != redis::RedisReply::Type::integer) {
                   done(std::nullopt);
                   return;
                 }
                 done(reply.integer == 1);
               });
  });
}

void ClusterNode::room_presence(std::string room,
                                std::function<void(std::optional<RoomPresence>)> done) {
  const uint32_t shard = names_.room_shard(room);
  on_shard(shard, [this, room = std::move(room), done = std::move(done)](Shard& shard) mutable {
    run_script(*shard.publisher, presence_script(), {names_.room_users(room), names_.node_leases()},
               {}, [done = std::move(done)](const redis::RedisReply& reply) {
                 if (reply.type != redis::RedisReply::Type::array || reply.elements.empty() ||
                     reply.elements[0].type != redis::RedisReply::Type::integer) {
                   done(std::nullopt);
                   return;
                 }
                 RoomPresence presence;
                 presence.connections = static_cast<uint64_t>(reply.elements[0].integer);
                 for (size_t i = 1; i < reply.elements.size(); ++i) {
                   presence.users.push_back(reply.elements[i].text);
                 }
                 done(std::move(presence));
               });
  });
}

// The shard's publisher is connected (again): a Redis that restarted without its data has lost
// this node's lease and its users of the rooms that count them (presence, max_members), so both
// are written again at once, from the Directory as it is now. A change after this is written by
// its own room_user_changed, which runs later on this loop.
void ClusterNode::restate(Shard& shard) {
  renew_lease(shard);
  // A user who left while Redis was away: its field must go (also when Redis kept its data).
  for (const std::string& key : std::exchange(shard.unsynced_room_users, {})) {
    const size_t separator = key.find('\x1f');
    write_room_user(shard, key.substr(0, separator), key.substr(separator + 1));
  }
  for (const Directory::RoomUserCount& count : directory_.room_user_counts()) {
    if (names_.room_shard(count.room) != shard.index) continue;
    shard.publisher->command(
        {"HSET", names_.room_users(count.room), fmt::format("{}\x1f{}", node_id_, count.user),
         std::to_string(count.refs)},
        {});
  }
}

// This node's users of a room that counts them (max_members, presence), in Redis as the
// Directory has them now: the field's value is the user's connections in the room here.
void ClusterNode::room_user_changed(std::string_view room, std::string_view user) {
  on_shard(names_.room_shard(room), [this, room = std::string(room), user = std::string(user)](
                                        Shard& shard) { write_room_user(shard, room, user); });
}

// On the shard's owner loop. A write that fails (Redis away) is remembered for restate.
void ClusterNode::write_room_user(Shard& shard, const std::string& room, const std::string& user) {
  std::string field = fmt::format("{}\x1f{}", node_id_, user);
  auto failed = [&shard,
                 key = fmt::format("{}\x1f{}", room, user)](const redis::RedisReply& reply) {
    if (reply.type == redis::RedisReply::Type::error) shard.unsynced_room_users.insert(key);
  };
  if (const int32_t refs = directory_.room_user_refs(room, user); refs > 0) {
    shard.publisher->command(
        {"HSET", names_.room_users(room), std::move(field), std::to_string(refs)}, failed);
  } else {
    shard.publisher->command({"HDEL", names_.room_users(room), std::move(field)}, failed);
  }
}

void ClusterNode::close_connection(unsigned loop, const std::string& user,
                                   std::string_view connection, uint16_t code,
                                   std::string_view reason) {
  const size_t dash = connection.find('-');
  if (dash == std::string_view::npos) return;
  const std::string_view node = connection.substr(0, dash);
  uint64_t number = 0;
  const std::string_view digits = connection.substr(dash + 1);
  if (std::from_chars(digits.data(), digits.data() + digits.size(), number).ec != std::errc{}) {
    return;
  }
  if (node == node_id_) {
    close_local_session(loop, user, number, code, reason);
    return;
  }
  on_shard(RedisNames::node_shard,
           [this, node = std::string(node),
            message = encode_close_session(node_id_, user, number, code, reason)](Shard&) {
             publish(RedisNames::node_shard, names_.node(node), message);
           });
}

void ClusterNode::close_local_session(unsigned loop, const std::string& user, uint64_t number,
                                      uint16_t code, std::string_view reason) {
  for (const UserConnection& connection : directory_.user_connections(user)) {
    if (connection.number != number) continue;
    loops_[loop].delivery->post(connection.loop,
                                CloseUserSession{user, number, code, std::string(reason)});
  }
}

}  // namespace dispatch::cluster
