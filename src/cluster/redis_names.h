// Where things live in Redis: a room's or a user's channel and the cluster-wide counts (a user's
// and a client IP's connections, rate-limit windows), each on the shard chosen by a stable hash
// of its name (the same on every node and every build) modulo the number of shards — adding a
// shard moves names, so it takes a restart of every node. Everyone's traffic (`_broadcast`) and
// the nodes' own channels are on the first shard; the table of node leases is on every shard
// (each shard's scripts read it there).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dispatch::cluster {

// FNV-1a, 64 bits: stable across machines and compilers (std::hash is not).
uint64_t stable_hash(std::string_view text);

class RedisNames {
 public:
  RedisNames(std::string prefix, uint32_t shard_count)
      : prefix_(std::move(prefix)), shard_count_(shard_count) {}

  uint32_t shard_count() const { return shard_count_; }
  uint32_t room_shard(std::string_view room) const { return shard_of("room", room); }
  uint32_t user_shard(std::string_view user) const { return shard_of("user", user); }
  uint32_t ip_shard(std::string_view ip) const { return shard_of("ip", ip); }
  uint32_t rate_shard(std::string_view key) const { return shard_of("rate", key); }
  static constexpr uint32_t everyone_shard = 0;

  std::string room(std::string_view room) const;  // <prefix>:room:<room>
  std::string user(std::string_view user) const;  // <prefix>:user:<user>
  std::string everyone() const;                   // <prefix>:all
  // Answers for one node (`joined`), on the first shard: <prefix>:node:<node id>
  std::string node(std::string_view node_id) const;
  static constexpr uint32_t node_shard = 0;

  // Keys. Node leases: a sorted set, node id → lease expiry (ms, Redis time), on every shard.
  std::string node_leases() const;                            // <prefix>:nodes
  std::string user_connections(std::string_view user) const;  // <prefix>:conns:user:<user>
  std::string ip_connections(std::string_view ip) const;      // <prefix>:conns:ip:<ip>
  std::string rate_window(std::string_view key) const;        // <prefix>:rate:<key>
  // The users of a room with a max_members policy, per node: fields "<node id>\x1f<user>".
  std::string room_users(std::string_view room) const;  // <prefix>:room_users:<room>
  // A history room's kept messages, a stream whose entry ids are "<offset>-1", and its position
  // (a hash: `o` the last offset, `e` the epoch); both on the room's shard.
  std::string history_stream(std::string_view room) const;  // <prefix>:history:<room>
  std::string history_meta(std::string_view room) const;    // <prefix>:history_meta:<room>

 private:
  uint32_t shard_of(std::string_view kind, std::string_view name) const;

  std::string prefix_;
  uint32_t shard_count_;
};

}  // namespace dispatch::cluster
