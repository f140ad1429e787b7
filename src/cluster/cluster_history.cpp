// History rooms in cluster mode (SPEC 6): the room's Redis shard keeps its messages — a capped
// stream and a position hash — and gives each its offset in the same script that publishes it
// (redis_scripts.cpp), so every node, the publishing one included, receives the room's messages
// in offset order from its subscription and delivers them from there. A publisher waits until
// its own message is delivered on its node, so what it sends next comes after it.
#include <fmt/format.h>

#include <random>

#include "cluster/cluster_node.h"
#include "cluster/cluster_shard.h"
#include "cluster/redis_scripts.h"
#include "delivery/fanout.h"
#include "delivery/loop_delivery.h"
#include "frames/server_frames.h"

namespace dispatch::cluster {

namespace {

std::string epoch_for_new_room() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return new_epoch(random);
}

// How long a room's position outlives its last message in Redis (RoomHistory's single-node
// rule): a client back after its messages expired still learns it missed nothing new.
std::chrono::milliseconds position_lifetime(std::chrono::milliseconds ttl) {
  return ttl + std::chrono::duration_cast<std::chrono::milliseconds>(RoomHistory::position_memory);
}

}  // namespace

void ClusterNode::publish_history(uint32_t shard_index, std::string room, std::string json_prefix,
                                  HistoryLimits limits, HistoryDone done) {
  Shard& shard = *shards_[shard_index];
  std::vector<std::string> args{encode_history_head(node_id_, room),
                                std::move(json_prefix),
                                std::to_string(limits.size),
                                std::to_string(limits.ttl.count()),
                                epoch_for_new_room(),
                                std::to_string(position_lifetime(limits.ttl).count()),
                                names_.room(room)};
  run_script(*shard.publisher, history_publish_script(),
             {names_.history_meta(room), names_.history_stream(room)}, std::move(args),
             [this, &shard, room, done = std::move(done)](const redis::RedisReply& reply) mutable {
               if (reply.type != redis::RedisReply::Type::integer || reply.integer <= 0) {
                 counters_.lost.fetch_add(1, std::memory_order_relaxed);
                 done(std::nullopt);
                 return;
               }
               counters_.published.fetch_add(1, std::memory_order_relaxed);
               const auto offset = static_cast<uint64_t>(reply.integer);
               auto delivered = shard.history_delivered.find(room);
               // Nothing to wait for: no member here, its subscription is down (it comes back
               // without what was published meanwhile), or delivered already.
               if (directory_.room_loops(room) == 0 || !shard.subscriber->connected() ||
                   (delivered != shard.history_delivered.end() && delivered->second >= offset)) {
                 done(offset);
                 return;
               }
               shard.history_waiters[room].emplace_back(offset, std::move(done));
             });
}

void ClusterNode::on_history_frame(Shard& shard, const WireMessage& message) {
  if (message.origin != node_id_) counters_.received.fetch_add(1, std::memory_order_relaxed);
  const std::string room(message.target);
  deliver_history_frame(*loops_[shard.owner].delivery, room, build_text_frame(message.body),
                        message.offset);
  uint64_t& delivered = shard.history_delivered[room];
  delivered = std::max(delivered, message.offset);
  auto waiting = shard.history_waiters.find(room);
  if (waiting == shard.history_waiters.end()) return;
  auto& waiters = waiting->second;
  std::vector<std::pair<uint64_t, HistoryDone>> ready;
  for (auto it = waiters.begin(); it != waiters.end();) {
    if (it->first <= delivered) {
      ready.push_back(std::move(*it));
      it = waiters.erase(it);
    } else {
      ++it;
    }
  }
  if (waiters.empty()) shard.history_waiters.erase(waiting);
  for (auto& [offset, done] : ready) done(offset);
}

void ClusterNode::forget_history_room(Shard& shard, const std::string& room) {
  shard.history_delivered.erase(room);
  auto waiting = shard.history_waiters.find(room);
  if (waiting == shard.history_waiters.end()) return;
  auto waiters = std::move(waiting->second);
  shard.history_waiters.erase(waiting);
  for (auto& [offset, done] : waiters) done(offset);  // nobody here to wait for
}

void ClusterNode::read_history(std::string room, uint64_t since, std::chrono::milliseconds ttl,
                               std::function<void(std::optional<HistoryRead>)> done) {
  read_history_from(std::move(room), since, 0, ttl, std::move(done));
}

void ClusterNode::read_last_history(std::string room, uint32_t last, std::chrono::milliseconds ttl,
                                    std::function<void(std::optional<HistoryRead>)> done) {
  read_history_from(std::move(room), 0, last, ttl, std::move(done));
}

namespace {

// The room's last kept messages: the newest run without a gap that ends at its last offset (an
// older one may have expired while a newer one is kept).
void keep_newest_run(HistoryRead& read,
                     const std::vector<std::pair<uint64_t, std::string_view>>& kept) {
  size_t begin = kept.size();
  uint64_t next = read.position.offset;
  while (begin > 0 && kept[begin - 1].first == next) {
    --begin;
    --next;
  }
  read.first_offset = next + 1;
  read.complete = true;
  for (size_t i = begin; i < kept.size(); ++i) {
    read.frames.push_back(build_text_frame(kept[i].second));
  }
}

}  // namespace

void ClusterNode::read_history_from(std::string room, uint64_t since, uint32_t last,
                                    std::chrono::milliseconds ttl,
                                    std::function<void(std::optional<HistoryRead>)> done) {
  on_shard(names_.room_shard(room), [this, room = std::move(room), since, last, ttl,
                                     done = std::move(done)](Shard& shard) mutable {
    run_script(*shard.publisher, history_read_script(),
               {names_.history_meta(room), names_.history_stream(room)},
               {std::to_string(since), std::to_string(ttl.count()), epoch_for_new_room(),
                std::to_string(position_lifetime(ttl).count()), std::to_string(last)},
               [since, last, done = std::move(done)](const redis::RedisReply& reply) {
                 using Type = redis::RedisReply::Type;
                 const auto& items = reply.elements;
                 if (reply.type != Type::array || items.size() < 2 || items.size() % 2 != 0 ||
                     items[0].type != Type::integer || items[1].type != Type::string) {
                   done(std::nullopt);
                   return;
                 }
                 HistoryRead read;
                 read.position = {static_cast<uint64_t>(items[0].integer), items[1].text};
                 if (last > 0) {
                   std::vector<std::pair<uint64_t, std::string_view>> kept;
                   for (size_t i = 2; i + 1 < items.size(); i += 2) {
                     kept.emplace_back(static_cast<uint64_t>(items[i].integer), items[i + 1].text);
                   }
                   keep_newest_run(read, kept);
                   done(std::move(read));
                   return;
                 }
                 read.first_offset = since + 1;
                 uint64_t expected = since + 1;
                 read.complete = true;
                 for (size_t i = 2; i + 1 < items.size(); i += 2) {
                   const auto offset = static_cast<uint64_t>(items[i].integer);
                   if (offset != expected) read.complete = false;
                   expected = offset + 1;
                   read.frames.push_back(build_text_frame(items[i + 1].text));
                 }
                 if (since < read.position.offset && expected != read.position.offset + 1) {
                   read.complete = false;  // the newest kept one is not the last offset (expired)
                 }
                 if (since > read.position.offset) read.complete = false;  // an offset it never had
                 done(std::move(read));
               });
  });
}

}  // namespace dispatch::cluster
