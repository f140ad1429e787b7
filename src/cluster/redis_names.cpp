#include "cluster/redis_names.h"

#include <fmt/format.h>

namespace dispatch::cluster {

uint64_t stable_hash(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// Names hash with their kind ("room:x", "user:x", …), so that room `x` and user `x` land on
// shards independently.
uint32_t RedisNames::shard_of(std::string_view kind, std::string_view name) const {
  if (shard_count_ <= 1) return 0;
  return static_cast<uint32_t>(stable_hash(fmt::format("{}:{}", kind, name)) % shard_count_);
}

std::string RedisNames::node_leases() const {
  return fmt::format("{}:nodes", prefix_);
}

std::string RedisNames::user_connections(std::string_view user) const {
  return fmt::format("{}:conns:user:{}", prefix_, user);
}

std::string RedisNames::ip_connections(std::string_view ip) const {
  return fmt::format("{}:conns:ip:{}", prefix_, ip);
}

std::string RedisNames::room_users(std::string_view room) const {
  return fmt::format("{}:room_users:{}", prefix_, room);
}

std::string RedisNames::history_stream(std::string_view room) const {
  return fmt::format("{}:history:{}", prefix_, room);
}

std::string RedisNames::history_meta(std::string_view room) const {
  return fmt::format("{}:history_meta:{}", prefix_, room);
}

std::string RedisNames::rate_window(std::string_view key) const {
  return fmt::format("{}:rate:{}", prefix_, key);
}

std::string RedisNames::room(std::string_view room) const {
  return fmt::format("{}:room:{}", prefix_, room);
}

std::string RedisNames::user(std::string_view user) const {
  return fmt::format("{}:user:{}", prefix_, user);
}

std::string RedisNames::everyone() const {
  return fmt::format("{}:all", prefix_);
}

std::string RedisNames::node(std::string_view node_id) const {
  return fmt::format("{}:node:{}", prefix_, node_id);
}

}  // namespace dispatch::cluster
