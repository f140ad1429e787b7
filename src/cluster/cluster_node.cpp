#include "cluster/cluster_node.h"

#include <fmt/format.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <bit>

#include "cluster/cluster_broker.h"
#include "cluster/cluster_shard.h"
#include "cluster/wire_message.h"
#include "delivery/fanout.h"
#include "delivery/loop_delivery.h"
#include "log/log.h"
#include "redis/redis_client.h"
#include "session/session.h"

namespace dispatch::cluster {

ClusterNode::ClusterNode(const config::ClusterConfig& config, std::string node_id,
                         Directory& directory, std::vector<NodeLoop> loops)
    : node_id_(std::move(node_id)),
      directory_(directory),
      loops_(std::move(loops)),
      names_(config.prefix, static_cast<uint32_t>(config.redis.size())),
      node_lease_(config.node_lease) {
  for (uint32_t index = 0; index < config.redis.size(); ++index) {
    auto shard = std::make_unique<Shard>();
    shard->index = index;
    shard->owner = owner_loop(index);
    shard->url = config.redis[index];
    boost::asio::io_context& io = *loops_[shard->owner].io;
    shard->heartbeat_timer = std::make_unique<boost::asio::steady_timer>(io);
    Shard& self = *shard;
    shard->publisher = std::make_unique<redis::RedisClient>(
        io, shard->url,
        redis::RedisClient::Callbacks{[this, &self](bool up) {
                                        const bool was = self.publisher_up.exchange(up);
                                        if (up && !was) restate(self);
                                      },
                                      {}});
    shard->subscriber = std::make_unique<redis::RedisClient>(
        io, shard->url,
        redis::RedisClient::Callbacks{
            [&self](bool up) { self.subscriber_up.store(up); },
            [this, &self](std::string_view channel, std::string_view message) {
              on_message(self, channel, message);
            }});
    shards_.push_back(std::move(shard));
  }
  for (unsigned loop = 0; loop < loops_.size(); ++loop) {
    brokers_.push_back(std::make_unique<ClusterBroker>(*this, loop, *loops_[loop].delivery));
  }
}

ClusterNode::~ClusterNode() = default;

void ClusterNode::start() {
  for (auto& shard : shards_) {
    boost::asio::post(*loops_[shard->owner].io, [this, &shard = *shard] {
      shard.publisher->start();
      shard.subscriber->start();
      if (shard.index == RedisNames::everyone_shard) follow(shard, names_.everyone(), true);
      if (shard.index == RedisNames::node_shard) follow(shard, names_.node(node_id_), true);
      heartbeat(shard);
    });
  }
}

Broker& ClusterNode::broker(unsigned loop) {
  return *brokers_[loop];
}

bool ClusterNode::shard_up(size_t shard) const {
  return shards_[shard]->publisher_up.load() && shards_[shard]->subscriber_up.load();
}

bool ClusterNode::ready() const {
  for (size_t shard = 0; shard < shards_.size(); ++shard) {
    if (!shard_up(shard)) return false;
  }
  return true;
}

std::string ClusterNode::not_ready_reason() const {
  std::string down;
  for (size_t shard = 0; shard < shards_.size(); ++shard) {
    if (shard_up(shard)) continue;
    if (!down.empty()) down += ", ";
    down += fmt::format("shard {} ({})", shard, shards_[shard]->url.display());
  }
  return down.empty() ? std::string() : "not connected to Redis: " + down;
}

// ------------------------------------------------------------------ subscriptions

void ClusterNode::room_presence_changed(std::string_view room) {
  const uint32_t shard = names_.room_shard(room);
  boost::asio::post(*loops_[owner_loop(shard)].io,
                    [this, room = std::string(room)] { follow_room(room); });
}

void ClusterNode::user_presence_changed(std::string_view user) {
  const uint32_t shard = names_.user_shard(user);
  boost::asio::post(*loops_[owner_loop(shard)].io,
                    [this, user = std::string(user)] { follow_user(user); });
}

void ClusterNode::follow_room(const std::string& room) {
  Shard& shard = *shards_[names_.room_shard(room)];
  const bool wanted = directory_.room_loops(room) != 0;
  follow(shard, names_.room(room), wanted);
  if (!wanted) forget_history_room(shard, room);
}

void ClusterNode::follow_user(const std::string& user) {
  Shard& shard = *shards_[names_.user_shard(user)];
  follow(shard, names_.user(user),
         directory_.user_loops(user) != 0 || shard.users_admitting.contains(user));
}

void ClusterNode::follow(Shard& shard, const std::string& channel, bool wanted) {
  const bool followed = shard.followed.contains(channel);
  if (wanted && !followed) {
    shard.followed.insert(channel);
    shard.subscriber->subscribe(channel);
  } else if (!wanted && followed) {
    shard.followed.erase(channel);
    shard.subscriber->unsubscribe(channel);
  }
}

bool ClusterNode::room_reachable(std::string_view room) {
  follow_room(std::string(room));
  Shard& shard = *shards_[names_.room_shard(room)];
  const std::string channel = names_.room(room);
  return !shard.followed.contains(channel) || !shard.subscriber->connected() ||
         shard.subscriber->confirmed(channel);
}

void ClusterNode::when_room_reachable(std::string_view room, std::function<void()> reachable) {
  const std::string name(room);
  follow_room(name);
  Shard& shard = *shards_[names_.room_shard(room)];
  const std::string channel = names_.room(room);
  if (!shard.followed.contains(channel)) {
    reachable();  // no member here any longer: nothing to wait for
    return;
  }
  shard.subscriber->subscribe(channel, std::move(reachable));  // settles at once when down
}

// ------------------------------------------------------------------ traffic

void ClusterNode::publish(uint32_t shard_index, std::string channel, std::string message,
                          uint32_t request) {
  Shard& shard = *shards_[shard_index];
  if (!shard.publisher->connected()) {
    counters_.lost.fetch_add(1, std::memory_order_relaxed);
    if (request) answer_waits_.finish(request);  // nobody else will hear of it
    return;
  }
  counters_.published.fetch_add(1, std::memory_order_relaxed);
  if (!request) {
    shard.publisher->command({"PUBLISH", std::move(channel), std::move(message)}, {});
    return;
  }
  // Every receiving node answers once — this one too, when it is subscribed (on_message).
  shard.publisher->command({"PUBLISH", std::move(channel), std::move(message)},
                           [this, request](const redis::RedisReply& reply) {
                             if (reply.type != redis::RedisReply::Type::integer) {
                               answer_waits_.finish(request);
                               return;
                             }
                             answer_waits_.expect(request, reply.integer);
                           });
}

uint32_t ClusterNode::await_answers(unsigned loop, AnswerWaits::Done done) {
  const uint32_t request = answer_waits_.start(std::move(done));
  auto deadline = std::make_shared<boost::asio::steady_timer>(*loops_[loop].io);
  deadline->expires_after(answer_deadline);
  deadline->async_wait([this, request, deadline](const boost::system::error_code& error) {
    if (!error) answer_waits_.finish(request);
  });
  return request;
}

void ClusterNode::answer(std::string origin, uint32_t request, std::string body) {
  boost::asio::post(*loops_[owner_loop(RedisNames::node_shard)].io,
                    [this, origin = std::move(origin), request, body = std::move(body)] {
                      publish(RedisNames::node_shard, names_.node(origin),
                              encode_answer(node_id_, request, body));
                    });
}

void ClusterNode::query_room(unsigned loop, std::string room,
                             std::function<void(std::vector<RoomMember>)> done) {
  const uint32_t request =
      await_answers(loop, [this, loop, done = std::move(done)](std::vector<std::string> answers) {
        std::vector<RoomMember> members;
        for (const std::string& body : answers) {
          if (auto some = decode_members(body)) {
            members.insert(members.end(), std::make_move_iterator(some->begin()),
                           std::make_move_iterator(some->end()));
          }
        }
        boost::asio::post(*loops_[loop].io, [done, members = std::move(members)]() mutable {
          done(std::move(members));
        });
      });
  const uint32_t shard = names_.room_shard(room);
  on_shard(shard, [this, shard, room = std::move(room), request](Shard&) {
    publish(shard, names_.room(room), encode_room_query(node_id_, room, request), request);
  });
}

// Each loop with members of the room lists them on its own thread; the last one answers.
void ClusterNode::answer_room_query(std::string origin, uint32_t request, std::string room) {
  const uint64_t loops = directory_.room_loops(room);
  if (loops == 0) {
    answer(std::move(origin), request);
    return;
  }
  struct Gathering {
    std::mutex mutex;
    std::string body;
    int remaining = 0;
  };
  auto gathering = std::make_shared<Gathering>();
  gathering->remaining = std::popcount(loops);
  for (unsigned index = 0; index < loops_.size(); ++index) {
    if (!(loops & (uint64_t{1} << index))) continue;
    boost::asio::post(*loops_[index].io, [this, index, gathering, origin, request, room] {
      std::string part;
      if (const LocalRoom* local = loops_[index].delivery->rooms().find(room)) {
        for (const Session* member : local->members) {
          encode_member(part, member->id(), member->user_id());
        }
      }
      bool last = false;
      {
        std::lock_guard lock(gathering->mutex);
        gathering->body += part;
        last = --gathering->remaining == 0;
      }
      if (last) answer(origin, request, std::move(gathering->body));
    });
  }
}

void ClusterNode::on_message(Shard& shard, std::string_view channel, std::string_view bytes) {
  auto decoded = decode_wire_message(bytes);
  if (auto* problem = std::get_if<std::string>(&decoded)) {
    counters_.refused.fetch_add(1, std::memory_order_relaxed);
    if (!shard.refusal_logged) {
      shard.refusal_logged = true;
      log::warn("cluster message refused (logged once per shard)")
          .field("channel", std::string(channel))
          .field("error", *problem);
    }
    return;
  }
  const WireMessage& message = std::get<WireMessage>(decoded);
  if (message.kind == WireKind::history_frame) {  // every node delivers these, the origin too
    on_history_frame(shard, message);
    return;
  }
  if (message.origin == node_id_) {  // served here when it was published
    // A request of this node's own that came back is this node's answer (its part was done
    // here): so PUBLISH's count of receivers is exactly the answers to wait for, whether or not
    // this node's subscription was confirmed when it published.
    if ((message.kind == WireKind::join_user || message.kind == WireKind::room_query) &&
        message.request != 0) {
      answer_waits_.answer(message.request, {});
    }
    return;
  }
  counters_.received.fetch_add(1, std::memory_order_relaxed);
  LoopDelivery& delivery = *loops_[shard.owner].delivery;
  switch (message.kind) {
    case WireKind::room_frame:
      node_local::publish_to_room(delivery, message.target,
                                  FrameRef(OutFrame::create(message.frame)));
      break;
    case WireKind::user_frame:
      node_local::publish_to_user(delivery, message.target,
                                  FrameRef(OutFrame::create(message.frame)));
      break;
    case WireKind::all_frame:
      node_local::publish_to_all(delivery, FrameRef(OutFrame::create(message.frame)));
      break;
    case WireKind::join_user:
      node_local::join_user_to_room(delivery, message.target, message.room, message.counts_users);
      if (message.request != 0) {
        brokers_[shard.owner]->when_room_reachable(
            message.room, [this, origin = std::string(message.origin), request = message.request] {
              answer(origin, request);
            });
      }
      break;
    case WireKind::answer:
      answer_waits_.answer(message.request, std::string(message.body));
      break;
    case WireKind::room_query:
      answer_room_query(std::string(message.origin), message.request, std::string(message.target));
      break;
    case WireKind::close_session:
      close_local_session(shard.owner, std::string(message.target), message.session, message.code,
                          message.reason);
      break;
    case WireKind::leave_user:
      node_local::leave_user_from_room(delivery, message.target, message.room);
      break;
    case WireKind::close_user:
      node_local::disconnect_user(delivery, message.target, message.code, message.reason);
      break;
    case WireKind::history_frame:  // handled above, for every origin
      break;
  }
}

}  // namespace dispatch::cluster
