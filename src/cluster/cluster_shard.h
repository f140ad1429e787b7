// One Redis shard as a node holds it (cluster/cluster_node.h): the connection it publishes and
// runs scripts on, the one it subscribes on, both on the event loop that owns the shard, and what
// that loop alone keeps: the channels subscribed and the lease heartbeat. Private to
// src/cluster/.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cluster/cluster_node.h"
#include "redis/redis_client.h"
#include "redis/redis_url.h"

namespace dispatch::cluster {

struct ClusterNode::Shard {
  uint32_t index = 0;
  unsigned owner = 0;
  redis::RedisUrl url;
  std::unique_ptr<redis::RedisClient> publisher;
  std::unique_ptr<redis::RedisClient> subscriber;
  std::atomic<bool> publisher_up{false};
  std::atomic<bool> subscriber_up{false};
  std::unordered_set<std::string> followed;  // channels subscribed (owner loop only)
  bool refusal_logged = false;               // owner loop only
  std::unique_ptr<boost::asio::steady_timer> heartbeat_timer;  // owner loop only
  // History rooms of this shard (owner loop only): the last offset delivered here per room, and
  // publishers waiting until theirs is (cluster/cluster_history.cpp).
  std::unordered_map<std::string, uint64_t> history_delivered;
  std::unordered_map<std::string, std::vector<std::pair<uint64_t, HistoryDone>>> history_waiters;
  // Room users (room, US, user) whose write to Redis failed (owner loop only): written again
  // when the publisher is back (ClusterNode::restate).
  std::unordered_set<std::string> unsynced_room_users;
  // Users with a connection being admitted (owner loop only): their channel stays subscribed
  // until end_admission, whether or not the Directory has a connection of theirs yet.
  std::unordered_map<std::string, uint32_t> users_admitting;
};

}  // namespace dispatch::cluster
