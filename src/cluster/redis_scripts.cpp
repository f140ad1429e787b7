#include "cluster/redis_scripts.h"

#include <openssl/evp.h>

#include <cstdio>

namespace dispatch::cluster {

namespace {

// Redis time in milliseconds.
constexpr std::string_view now_ms = R"lua(
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
)lua";

constexpr std::string_view heartbeat_body = R"lua(
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return now
)lua";

// Members are "<node id>-<number>", connection ids. The admitting node's own lease is renewed
// here too, so its first admissions never depend on the first heartbeat having arrived.
constexpr std::string_view admit_body = R"lua(
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[2])
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local node = string.match(member, '^(.-)%-')
  local lease = node and redis.call('ZSCORE', KEYS[2], node)
  if not lease or tonumber(lease) < now then redis.call('ZREM', KEYS[1], member) end
end
local max = tonumber(ARGV[3])
local replaced = ''
if max > 0 and redis.call('ZCARD', KEYS[1]) >= max then
  if ARGV[4] ~= '1' then return {0, ''} end
  replaced = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  redis.call('ZREM', KEYS[1], replaced)
end
local clock = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(clock[1]) * 1000000 + tonumber(clock[2]), ARGV[1])
return {1, replaced}
)lua";

constexpr std::string_view room_admit_body = R"lua(
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
local users = {}
local count = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  local node, user = string.match(field, '^(.-)\31(.*)$')
  local lease = node and redis.call('ZSCORE', KEYS[2], node)
  if not lease or tonumber(lease) < now then
    redis.call('HDEL', KEYS[1], field)
  elseif not users[user] then
    users[user] = true
    count = count + 1
  end
end
if not users[ARGV[2]] and count >= tonumber(ARGV[3]) then return 0 end
redis.call('HSETNX', KEYS[1], ARGV[1] .. '\31' .. ARGV[2], 1)
return 1
)lua";

// A room's users on every live node (fields "<node>\31<user>", values the user's connections in
// the room on that node): {connections, user, user, ...}; a dead node's fields are dropped.
constexpr std::string_view presence_body = R"lua(
local users = {}
local seen = {}
local connections = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local node, user = string.match(fields[i], '^(.-)\31(.*)$')
  local lease = node and redis.call('ZSCORE', KEYS[2], node)
  if not lease or tonumber(lease) < now then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    connections = connections + (tonumber(fields[i + 1]) or 0)
    if not seen[user] then
      seen[user] = true
      users[#users + 1] = user
    end
  end
end
table.sort(users)
table.insert(users, 1, connections)
return users
)lua";

// A history room's message. KEYS: the position hash, the stream. ARGV: the wire message's head,
// the frame's JSON without its closing brace, size, ttl (ms), an epoch for a room that has none,
// how long the position is kept (ms), the room's channel. The offset, the kept entry and the
// PUBLISH happen in one script, so every node sees the room's messages in offset order.
// Returns the offset.
constexpr std::string_view history_publish_body = R"lua(
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[5]
  redis.call('HSET', KEYS[1], 'e', epoch)
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local text = ARGV[2] .. ',"offset":' .. offset .. ',"epoch":"' .. epoch .. '"}'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], offset .. '-1', 't', now, 'f', text)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PUBLISH', ARGV[7], ARGV[1] .. offset .. '\n' .. text)
return offset
)lua";

// A history room's position and its kept messages after an offset. KEYS: the position hash, the
// stream. ARGV: the offset, ttl (ms), an epoch for a room that has none, how long the position
// is kept (ms), and N > 0 to read the last N messages instead (from the offset N before the last).
// Returns {last offset, epoch, offset, frame, offset, frame, ...}, without what is older than the
// ttl.
constexpr std::string_view history_read_body = R"lua(
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local last = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
local out = {last, epoch}
local since = tonumber(ARGV[1])
local want = tonumber(ARGV[5] or '0')
if want > 0 then since = math.max(last - want, 0) end
if since < last then
  local oldest = now - tonumber(ARGV[2])
  for _, entry in ipairs(redis.call('XRANGE', KEYS[2], (since + 1) .. '-1', '+')) do
    local fields = entry[2]
    local at, text = 0, nil
    for i = 1, #fields, 2 do
      if fields[i] == 't' then at = tonumber(fields[i + 1]) end
      if fields[i] == 'f' then text = fields[i + 1] end
    end
    if text and at >= oldest then
      out[#out + 1] = tonumber(string.match(entry[1], '^(%d+)'))
      out[#out + 1] = text
    end
  end
end
return out
)lua";

// Returns 0 when the hit passes (and counts it), else the milliseconds to wait (>= 1).
constexpr std::string_view rate_body = R"lua(
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local index = math.floor(now / window)
local saved = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w = tonumber(saved[1]) or index
local current = tonumber(saved[2]) or 0
local previous = tonumber(saved[3]) or 0
if w ~= index then
  if w == index - 1 then previous = current else previous = 0 end
  current = 0
end
local elapsed = now - index * window
if previous * (window - elapsed) + (current + 1) * window <= limit * window then
  redis.call('HSET', KEYS[1], 'w', index, 'c', current + 1, 'p', previous)
  redis.call('PEXPIRE', KEYS[1], window * 2)
  return 0
end
redis.call('HSET', KEYS[1], 'w', index, 'c', current, 'p', previous)
redis.call('PEXPIRE', KEYS[1], window * 2)
local room = limit - current - 1
if room >= 0 and previous > 0 then
  local passing = window - math.floor(room * window / previous)
  if passing < window then return math.max(1, passing - elapsed) end
end
local passing = 0
if current > 0 then passing = math.max(0, window - math.floor((limit - 1) * window / current)) end
return math.max(1, window - elapsed + passing)
)lua";

std::string sha1_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr);
  std::string hex;
  char pair[3];
  for (unsigned int i = 0; i < size; ++i) {
    std::snprintf(pair, sizeof pair, "%02x", digest[i]);
    hex += pair;
  }
  return hex;
}

// A script's text (Redis's clock first, as `now`) and its SHA-1, made once per script. The
// text lives in a static of the caller's, so the view stays valid.
RedisScript clocked_script(std::string_view body, std::string& storage) {
  storage = std::string(now_ms) + std::string(body);
  return RedisScript{storage, sha1_hex(storage)};
}

}  // namespace

const RedisScript& heartbeat_script() {
  static std::string text;
  static const RedisScript script = clocked_script(heartbeat_body, text);
  return script;
}

const RedisScript& admit_script() {
  static std::string text;
  static const RedisScript script = clocked_script(admit_body, text);
  return script;
}

const RedisScript& room_admit_script() {
  static std::string text;
  static const RedisScript script = clocked_script(room_admit_body, text);
  return script;
}

const RedisScript& presence_script() {
  static std::string text;
  static const RedisScript script = clocked_script(presence_body, text);
  return script;
}

const RedisScript& history_publish_script() {
  static std::string text;
  static const RedisScript script = clocked_script(history_publish_body, text);
  return script;
}

const RedisScript& history_read_script() {
  static std::string text;
  static const RedisScript script = clocked_script(history_read_body, text);
  return script;
}

const RedisScript& rate_script() {
  static std::string text;
  static const RedisScript script = clocked_script(rate_body, text);
  return script;
}

void run_script(redis::RedisClient& client, const RedisScript& script,
                std::vector<std::string> keys, std::vector<std::string> args,
                redis::RedisClient::ReplyHandler done) {
  std::vector<std::string> tail;
  tail.push_back(std::to_string(keys.size()));
  for (std::string& key : keys) tail.push_back(std::move(key));
  for (std::string& arg : args) tail.push_back(std::move(arg));
  std::vector<std::string> argv{"EVALSHA", script.sha1};
  argv.insert(argv.end(), tail.begin(), tail.end());
  client.command(std::move(argv), [&client, &script, tail = std::move(tail),
                                   done = std::move(done)](const redis::RedisReply& reply) mutable {
    if (!reply.is_error() || !reply.text.starts_with("NOSCRIPT")) {
      done(reply);
      return;
    }
    std::vector<std::string> eval{"EVAL", std::string(script.text)};
    eval.insert(eval.end(), std::make_move_iterator(tail.begin()),
                std::make_move_iterator(tail.end()));
    client.command(std::move(eval), std::move(done));
  });
}

}  // namespace dispatch::cluster
