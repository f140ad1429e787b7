// The typed configuration: what config.yaml says once it has been parsed and checked.
// Defaults are those of SPEC.md section 2; loader.h turns YAML into these structs, and
// key_table.h lists every key with its default text (a unit test keeps both in step).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/cidr.h"
#include "redis/redis_url.h"

namespace dispatch::config {

using namespace std::chrono_literals;

// Where something was written: 1-based line and column. line == 0 means "no position"
// (e.g. a value that came from the environment rather than from the file).
struct SourceMark {
  std::string file;
  int line = 0;
  int column = 0;

  bool operator==(const SourceMark&) const = default;
};

struct ConfigError {
  SourceMark mark;
  std::string message;  // may already end with a hint: "(did you mean `x`?)"

  bool operator==(const ConfigError&) const = default;
};

// "file:line:col: message", or "file: message" when the error has no position.
std::string format_error(const ConfigError& error);

using Duration = std::chrono::milliseconds;

enum class SlowConsumerPolicy { disconnect, drop_newest, drop_oldest };
enum class ConnectionLimitMode { reject, cycle };
enum class LogLevel { debug, info, warn, error };

// The spelling used in config.yaml ("drop_newest", "cycle", "warn").
std::string_view to_string(SlowConsumerPolicy policy);
std::string_view to_string(ConnectionLimitMode mode);
std::string_view to_string(LogLevel level);

// "10/10s", "10/m", "5/1h": at most `count` within any `window`.
struct RateSpec {
  uint32_t count = 0;
  Duration window{0};

  bool operator==(const RateSpec&) const = default;
};

// One modifier or action of an event: `{name: rate_limit, params: ["10/m"], scope: node}`.
struct StepSpec {
  std::string name;
  std::vector<std::string> params;      // each param's scalar text, after ${VAR} substitution
  std::vector<SourceMark> param_marks;  // one per param
  // One per param: where its text starts when byte k of the text is at that column + k (a plain
  // or quoted scalar on one line, see config/scalar_position.h); nullopt where it is not.
  std::vector<std::optional<SourceMark>> param_text_starts;
  SourceMark mark;  // the step itself
  // Every other key of the step's map, as text; the step's factory decides what is valid.
  std::map<std::string, std::string> options;

  bool operator==(const StepSpec&) const = default;
};

// A piece of config.yaml kept as it was written, for a key whose meaning a later stage decides
// (an event's payload `schema:`, compiled by src/schema/). Scalars are kept as text after
// ${VAR} substitution, with whether they were quoted (a quoted scalar is always a string; a
// plain one may be a number, a boolean or null); every node and mapping key keeps its position
// so that the later stage reports problems at file:line:col.
struct RawNode {
  enum class Kind { null, scalar, sequence, mapping };

  Kind kind = Kind::null;
  SourceMark mark;
  std::string text;     // scalar: its text
  bool quoted = false;  // scalar: written in quotes or as a block scalar
  // sequence: the items; mapping: the values, in file order, with their keys beside them.
  std::vector<RawNode> items;
  std::vector<std::string> keys;      // mapping only
  std::vector<SourceMark> key_marks;  // mapping only

  bool operator==(const RawNode&) const = default;
};

struct EventSpec {
  std::string name;  // exactly as written (case-sensitive)
  SourceMark mark;   // the event's key
  // The payload schema as written (`schema:`), compiled by src/schema/; absent = no check.
  std::optional<RawNode> schema;
  std::vector<StepSpec> modifiers;
  std::vector<StepSpec> actions;
  // `lint_ignore:` the `dispatch check` lints (config/lints.h) not to report for this event.
  std::vector<std::string> lint_ignore;

  bool operator==(const EventSpec&) const = default;
};

// The largest server.max_message_size: a message, its payload expanded into a few templates and
// a frame header must stay far below the 32-bit size of an outgoing frame (OutFrame::max_size).
inline constexpr uint64_t max_message_size_cap = 64 * 1024 * 1024;

// A host:port to listen on (config/address.h parses it).
struct ListenAddress {
  std::string host;  // "" = all interfaces
  uint16_t port = 0;

  bool operator==(const ListenAddress&) const = default;
};

struct ServerConfig {
  std::string host;  // "" = all interfaces
  uint16_t port = 8080;
  std::string path = "/ws";
  std::vector<std::string> allowed_origins;
  uint64_t max_message_size = 64 * 1024;
  Duration ping_interval = 25s;
  Duration pong_timeout = 10s;
  Duration read_timeout = 0ms;  // 0 = off
  uint64_t send_queue_limit = 1024 * 1024;
  SlowConsumerPolicy slow_consumer = SlowConsumerPolicy::disconnect;
  Duration shutdown_grace = 10s;
  Duration step_timeout = 30s;  // a step still pending after this is answered with `internal`
  Duration handshake_timeout = 10s;
  uint64_t max_header_size = 8 * 1024;
  uint64_t max_connections = 0;  // 0 = as many as file descriptors allow
  uint32_t max_rooms_per_connection = 100;
  uint32_t max_handshakes_per_ip = 256;  // per TCP peer address; 0 = unlimited
  RateSpec error_budget{10, 10s};
  unsigned threads = 0;               // 0 = auto
  std::string static_dir;             // "" = no static files
  SourceMark static_dir_mark;         // where static_dir was set (check_runnable reports there)
  std::vector<Cidr> trusted_proxies;  // peers whose X-Forwarded-For gives the client IP
  // A second listener for /metrics and /api/* (then served only there); none = both on the
  // WebSocket port.
  std::optional<ListenAddress> admin_address;

  bool operator==(const ServerConfig&) const = default;
};

struct JwtConfig {
  std::string secret;  // never log or echo it
  // A PEM public key (RS*, ES256/384, EdDSA tokens), read when the config is compiled; a path
  // relative to the working directory, as server.static_dir. Session tokens only.
  std::string public_key_file;
  SourceMark public_key_mark;
  std::string issuer;
  std::string audience;
  Duration leeway = 30s;
  bool require_exp = false;
  // Where the secret was set; else where the section starts; else no position (it came from
  // the environment).
  SourceMark mark;

  bool operator==(const JwtConfig&) const = default;
};

struct ConnectionLimit {
  uint32_t max_per_user = 0;  // 0 = unlimited
  ConnectionLimitMode mode = ConnectionLimitMode::reject;

  bool operator==(const ConnectionLimit&) const = default;
};

struct AuthConfig {
  JwtConfig jwt;
  // Present only when auth.event_jwt.secret is non-empty; its issuer, audience, leeway and
  // require_exp default to the session jwt's values.
  std::optional<JwtConfig> event_jwt;
  bool refuse_after_upgrade = false;
  bool anonymous = false;
  ConnectionLimit connection_limit;
  uint32_t max_connections_per_ip = 0;  // per TCP peer address; 0 = unlimited
  // WebSocket handshakes one client IP may start per window (IPv6: per /64); count 0 = no limit.
  RateSpec handshake_rate_per_ip{0, std::chrono::minutes(1)};

  bool operator==(const AuthConfig&) const = default;
};

// A room policy (`rooms:`), applied to the rooms whose id matches its glob; the first matching
// policy in file order wins (config/room_policy.h finds it).
struct RoomPolicy {
  std::string glob;             // `*` any run of characters, `?` one character
  SourceMark mark;              // the glob's key
  uint32_t max_members = 0;     // distinct users across the node; 0 = unlimited
  std::string join_permission;  // "" = anyone may `_join`
  SourceMark join_permission_mark;
  bool member_only_send = false;  // `_notify_room` to it only from a member connection
  // `presence: true`: the room's distinct users and connection count are known (`_presence`).
  bool presence = false;
  // `history: {size, ttl}`: the room keeps its last `history_size` room messages (0 = none)
  // for `history_ttl`, with offsets and an epoch, for recovery (SPEC 4.3).
  uint32_t history_size = 0;
  Duration history_ttl{std::chrono::minutes(10)};
  // `lint_ignore:` the `dispatch check` lints (config/lints.h) not to report for this policy.
  std::vector<std::string> lint_ignore;

  bool operator==(const RoomPolicy&) const = default;
};

// Where a webhook target is POSTed to (config/webhook_url.h parses it).
struct WebhookUrl {
  std::string host;  // a name or an IP address (IPv6 without brackets)
  uint16_t port = 80;
  std::string path = "/";  // with the query, as written

  bool operator==(const WebhookUrl&) const = default;
};

// A webhook target (`webhooks.<name>`): where `_webhook` POSTs, how long one attempt may take, how
// often a failed one is tried again and how many deliveries may wait for it.
struct WebhookTarget {
  std::string name;  // the key under `webhooks:`, as `_webhook` names it
  SourceMark mark;   // the name's key
  std::string url;   // as written; `address` is what it means (empty when not set)
  WebhookUrl address;
  std::string secret;  // "" = no X-Dispatch-Signature; never log or echo it
  Duration timeout = 2s;
  uint32_t retries = 3;
  uint32_t queue = 1000;  // deliveries waiting for a connection; beyond it: dropped and counted

  bool operator==(const WebhookTarget&) const = default;
};

// The HTTP server API (SPEC 5): on when `key` is set (api.key, else DISPATCH_API_KEY).
struct ApiConfig {
  std::string key;  // never log or echo it
  SourceMark mark;  // where it was set; no position when it came from the environment

  bool operator==(const ApiConfig&) const = default;
};

// Cluster mode (`cluster:`): several nodes act as one over Redis. No URLs = a single node.
struct ClusterConfig {
  std::vector<redis::RedisUrl> redis;  // the shards, in config order (a room's shard is its hash
                                       // modulo their count, so the order matters)
  std::string prefix = "dispatch";     // of every channel and key: clusters can share a Redis
  Duration node_lease = std::chrono::seconds(10);  // a crashed node's entries expire after it

  bool enabled() const { return !redis.empty(); }
  bool operator==(const ClusterConfig&) const = default;
};

// Lifecycle hooks (`hooks:`): action lists run after a connection opens or closes, and after a
// session joins or leaves a room. Steps as in an event's `actions:`; compiled like them.
struct HooksConfig {
  std::vector<StepSpec> on_connect;
  std::vector<StepSpec> on_disconnect;
  std::vector<StepSpec> on_join;
  std::vector<StepSpec> on_leave;

  bool operator==(const HooksConfig&) const = default;
};

struct Config {
  std::string file;  // the file it was loaded from (as given)
  ServerConfig server;
  AuthConfig auth;
  std::vector<std::string> permissions;
  std::vector<RoomPolicy> rooms;        // in file order: the first match wins
  std::vector<EventSpec> events;        // in file order
  std::vector<WebhookTarget> webhooks;  // in file order
  ClusterConfig cluster;
  ApiConfig api;
  HooksConfig hooks;
  LogLevel log_level = LogLevel::info;

  bool operator==(const Config&) const = default;
};

}  // namespace dispatch::config
