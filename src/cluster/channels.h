// Where a room's or a user's traffic lives in Redis: its channel, and the shard that carries it
// (a stable hash of the name, the same on every node and every build, modulo the number of
// shards: adding a shard moves names, so it takes a restart of every node). Everyone's traffic
// (`_broadcast`) is one channel on the first shard, and so are the nodes' own channels.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dispatch::cluster {

// FNV-1a, 64 bits: stable across machines and compilers (std::hash is not).
uint64_t stable_hash(std::string_view text);

class Channels {
 public:
  Channels(std::string prefix, uint32_t shard_count)
      : prefix_(std::move(prefix)), shard_count_(shard_count) {}

  uint32_t shard_count() const { return shard_count_; }
  uint32_t room_shard(std::string_view room) const;
  uint32_t user_shard(std::string_view user) const;
  static constexpr uint32_t everyone_shard = 0;

  std::string room(std::string_view room) const;  // <prefix>:room:<room>
  std::string user(std::string_view user) const;  // <prefix>:user:<user>
  std::string everyone() const;                   // <prefix>:all
  // Answers for one node (`joined`), on the first shard: <prefix>:node:<node id>
  std::string node(std::string_view node_id) const;
  static constexpr uint32_t node_shard = 0;

 private:
  std::string prefix_;
  uint32_t shard_count_;
};

}  // namespace dispatch::cluster
