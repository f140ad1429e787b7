// The Lua scripts cluster mode runs in Redis. Each reads, decides and writes in one round trip,
// atomically (Redis runs one script at a time), on Redis's clock, so that nodes agree on time.
//
// - heartbeat: renews this node's lease in the shard's lease table and drops expired leases.
// - admit: admits a connection under a cluster-wide limit — the connections of one user, or of
//   one client IP, in a sorted set by admission time. Entries of nodes whose lease has expired
//   (a crash) are dropped first, so they stop counting within the lease time. At the limit it
//   refuses, or with `cycle` takes out the oldest entry and names it (the caller closes that
//   connection, wherever it is).
// - room_admit: a room's `max_members` across the cluster — a hash of "<node>\x1f<user>" fields
//   (each node keeps its own users there); fields of dead nodes are dropped, then the user passes
//   when counted already or when the distinct users are fewer than the limit (and is counted).
// - rate: the sliding-window counter of `rate_limit` (steps/modifiers/sliding_window.h, same
//   arithmetic), one hash per key, expiring two windows after its last hit.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "redis/redis_client.h"

namespace dispatch::cluster {

struct RedisScript {
  std::string_view text;
  std::string sha1;  // hex, what EVALSHA names it by
};

const RedisScript& heartbeat_script();  // KEYS: leases; ARGV: node id, lease ms
const RedisScript& admit_script();  // KEYS: set, leases; ARGV: conn id, node id, max, cycle, lease
const RedisScript& rate_script();   // KEYS: window; ARGV: limit, window ms
// KEYS: room users, leases; ARGV: node id, user, max_members, lease ms
const RedisScript& room_admit_script();
// A presence room's users and connections on every live node.
const RedisScript& presence_script();
// A history room's message: offset, kept entry and PUBLISH in one script; and reading it back.
const RedisScript& history_publish_script();
const RedisScript& history_read_script();

// Runs the script with EVALSHA, and once more with EVAL when Redis does not have it (NOSCRIPT:
// after a restart, or the first time).
void run_script(redis::RedisClient& client, const RedisScript& script,
                std::vector<std::string> keys, std::vector<std::string> args,
                redis::RedisClient::ReplyHandler done);

}  // namespace dispatch::cluster
