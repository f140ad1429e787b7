#include "cluster/channels.h"

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

// Rooms and users hash with their kind, so that room `x` and user `x` land independently.
uint32_t Channels::room_shard(std::string_view room) const {
  if (shard_count_ <= 1) return 0;
  return static_cast<uint32_t>(stable_hash(fmt::format("room:{}", room)) % shard_count_);
}

uint32_t Channels::user_shard(std::string_view user) const {
  if (shard_count_ <= 1) return 0;
  return static_cast<uint32_t>(stable_hash(fmt::format("user:{}", user)) % shard_count_);
}

std::string Channels::room(std::string_view room) const {
  return fmt::format("{}:room:{}", prefix_, room);
}

std::string Channels::user(std::string_view user) const {
  return fmt::format("{}:user:{}", prefix_, user);
}

std::string Channels::everyone() const {
  return fmt::format("{}:all", prefix_);
}

std::string Channels::node(std::string_view node_id) const {
  return fmt::format("{}:node:{}", prefix_, node_id);
}

}  // namespace dispatch::cluster
