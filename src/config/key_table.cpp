// The key table itself (see key_table.h), with each key's binding to the Config field it sets.
// To add a key: add one row here, in SPEC order; the loader, the unknown-key hints and the
// generated docs all follow from it. A row's default_text must mean the same as the struct
// default in config.h (a unit test loads every default_text and compares).
#include <functional>
#include <limits>

#include "config/address.h"
#include "config/cidr.h"
#include "config/key_bindings.h"
#include "config/lints.h"
#include "config/raw_node_reader.h"
#include "config/steps_reader.h"
#include "config/suggestion.h"
#include "config/webhook_url.h"

namespace dispatch::config {

namespace {

template <typename T>
using Field = T& (*)(ApplyTarget&);

// Returns a problem ("must be longer than 0") for a value that parsed but is not acceptable.
template <typename T>
using Check = std::optional<std::string> (*)(const T&);

KeyInfo key_info(std::string path, KeyType type, std::string default_text, std::string doc) {
  KeyInfo info;
  info.path = std::move(path);
  info.type = type;
  info.default_text = std::move(default_text);
  info.doc = std::move(doc);
  return info;
}

template <typename T>
void store(ValueReader& reader, const YAML::Node& node, const std::string& path,
           ApplyTarget& target, const std::optional<T>& value, Field<T> field, Check<T> check) {
  if (!value) return;
  if (check) {
    if (auto problem = check(*value)) {
      reader.error(node, "`" + path + "` " + *problem);
      return;
    }
  }
  field(target) = *value;
}

KeyBinding section(std::string path, std::string doc) {
  return {key_info(std::move(path), KeyType::section, "", std::move(doc)), nullptr, nullptr};
}

KeyBinding not_supported(std::string path, KeyType type, std::string default_text,
                         std::string doc) {
  KeyInfo info = key_info(std::move(path), type, std::move(default_text), std::move(doc));
  info.implemented = false;
  return {std::move(info), nullptr, nullptr};
}

KeyBinding string_key(std::string path, std::string default_text, std::string doc,
                      Field<std::string> field, Check<std::string> check = nullptr) {
  return {key_info(std::move(path), KeyType::string, std::move(default_text), std::move(doc)),
          [field, check](ValueReader& reader, const YAML::Node& node, const std::string& path,
                         ApplyTarget& target) {
            store(reader, node, path, target, reader.read_string(node, path), field, check);
          },
          nullptr};
}

KeyBinding secret_key(std::string path, std::string default_text, std::string doc,
                      Field<std::string> field) {
  KeyInfo info =
      key_info(std::move(path), KeyType::string, std::move(default_text), std::move(doc));
  info.secret = true;
  return {std::move(info),
          [field](ValueReader& reader, const YAML::Node& node, const std::string& path,
                  ApplyTarget& target) {
            store<std::string>(reader, node, path, target, reader.read_secret(node, path), field,
                               nullptr);
          },
          nullptr};
}

KeyBinding bool_key(std::string path, std::string default_text, std::string doc,
                    Field<bool> field) {
  return {key_info(std::move(path), KeyType::boolean, std::move(default_text), std::move(doc)),
          [field](ValueReader& reader, const YAML::Node& node, const std::string& path,
                  ApplyTarget& target) {
            store<bool>(reader, node, path, target, reader.read_bool(node, path), field, nullptr);
          },
          nullptr};
}

template <typename Integer>
KeyBinding integer_key(std::string path, std::string default_text, std::string doc,
                       Field<Integer> field) {
  return {key_info(std::move(path), KeyType::integer, std::move(default_text), std::move(doc)),
          [field](ValueReader& reader, const YAML::Node& node, const std::string& path,
                  ApplyTarget& target) {
            const auto value =
                reader.read_unsigned(node, path, std::numeric_limits<Integer>::max());
            if (value) field(target) = static_cast<Integer>(*value);
          },
          nullptr};
}

KeyBinding size_key(std::string path, std::string default_text, std::string doc,
                    Field<uint64_t> field, Check<uint64_t> check = nullptr) {
  return {key_info(std::move(path), KeyType::size, std::move(default_text), std::move(doc)),
          [field, check](ValueReader& reader, const YAML::Node& node, const std::string& path,
                         ApplyTarget& target) {
            store(reader, node, path, target, reader.read_size(node, path), field, check);
          },
          nullptr};
}

KeyBinding duration_key(std::string path, std::string default_text, std::string doc,
                        Field<Duration> field, Check<Duration> check = nullptr) {
  return {key_info(std::move(path), KeyType::duration, std::move(default_text), std::move(doc)),
          [field, check](ValueReader& reader, const YAML::Node& node, const std::string& path,
                         ApplyTarget& target) {
            store(reader, node, path, target, reader.read_duration(node, path), field, check);
          },
          nullptr};
}

KeyBinding rate_key(std::string path, std::string default_text, std::string doc,
                    Field<RateSpec> field, Check<RateSpec> check = nullptr) {
  return {key_info(std::move(path), KeyType::rate, std::move(default_text), std::move(doc)),
          [field, check](ValueReader& reader, const YAML::Node& node, const std::string& path,
                         ApplyTarget& target) {
            store(reader, node, path, target, reader.read_rate(node, path), field, check);
          },
          nullptr};
}

template <typename Enum>
KeyBinding choice_key(std::string path, std::string default_text, std::string doc,
                      std::vector<Enum> values, Field<Enum> field) {
  KeyInfo info =
      key_info(std::move(path), KeyType::choice, std::move(default_text), std::move(doc));
  for (Enum value : values) info.choices.emplace_back(to_string(value));
  return {info,
          [field, values, choices = info.choices](ValueReader& reader, const YAML::Node& node,
                                                  const std::string& path, ApplyTarget& target) {
            if (const auto index = reader.read_choice(node, path, choices)) {
              field(target) = values[*index];
            }
          },
          nullptr};
}

KeyBinding string_list_key(std::string path, std::string default_text, std::string doc,
                           Field<std::vector<std::string>> field) {
  return {key_info(std::move(path), KeyType::string_list, std::move(default_text), std::move(doc)),
          [field](ValueReader& reader, const YAML::Node& node, const std::string& path,
                  ApplyTarget& target) {
            auto items = reader.read_string_list(node, path);
            if (!items) return;
            for (size_t i = 0; i < items->size(); ++i) {
              if ((*items)[i].empty()) {
                reader.error(node[i],
                             "`" + path + "[" + std::to_string(i) + "]` must not be empty");
                return;
              }
            }
            field(target) = std::move(*items);
          },
          nullptr};
}

KeyBinding steps_key(std::string path, std::string doc, Field<std::vector<StepSpec>> field) {
  return {key_info(std::move(path), KeyType::steps, "[]", std::move(doc)),
          [field](ValueReader& reader, const YAML::Node& node, const std::string& path,
                  ApplyTarget& target) {
            if (auto steps = read_steps(reader, node, path)) field(target) = std::move(*steps);
          },
          nullptr};
}

// Kept as written; src/schema/ compiles it (CompiledConfig), reporting at its positions.
KeyBinding schema_key(std::string path, std::string doc) {
  return {key_info(std::move(path), KeyType::schema, "", std::move(doc)),
          [](ValueReader& reader, const YAML::Node& node, const std::string& path,
             ApplyTarget& target) {
            if (auto raw = read_raw_node(reader, node, path)) target.event->schema = std::move(raw);
          },
          nullptr};
}

// `lint_ignore: [name, ...]` in an event or a room policy: names of config/lints.h only, so a
// misspelt name cannot silence nothing quietly.
KeyBinding lint_ignore_key(std::string path, std::string doc,
                           Field<std::vector<std::string>> field) {
  return {key_info(std::move(path), KeyType::string_list, "[]", std::move(doc)),
          [field](ValueReader& reader, const YAML::Node& node, const std::string& path,
                  ApplyTarget& target) {
            auto names = reader.read_string_list(node, path);
            if (!names) return;
            std::vector<std::string> known;
            for (const LintInfo& lint : lint_catalogue()) known.emplace_back(lint.name);
            std::string known_list;
            for (const std::string& name : known)
              known_list += (known_list.empty() ? "" : ", ") + name;
            for (size_t i = 0; i < names->size(); ++i) {
              const std::string& name = (*names)[i];
              if (is_lint_name(name)) continue;
              std::string hint = did_you_mean_hint(name, known);
              reader.error(node.IsSequence() ? node[i] : node,
                           "`" + path + "[" + std::to_string(i) + "]`: no lint is called `" + name +
                               "`" + hint + " (the lints: " + known_list + ")");
              return;
            }
            field(target) = std::move(*names);
          },
          nullptr};
}

// `store_address` gets the parsed address; with `may_be_empty`, "" stores nothing (the key's
// feature is off).
KeyBinding address_key(std::string path, std::string default_text, std::string doc,
                       std::function<void(ApplyTarget&, ListenAddress)> store_address,
                       bool may_be_empty = false) {
  return {key_info(std::move(path), KeyType::address, std::move(default_text), std::move(doc)),
          [store_address, may_be_empty](ValueReader& reader, const YAML::Node& node,
                                        const std::string& path, ApplyTarget& target) {
            const auto text = reader.text(node, path, "host:port like \":8080\"");
            if (!text || (may_be_empty && text->empty())) return;
            auto address = parse_listen_address(*text);
            if (!address) {
              reader.error(node, "`" + path + "`: " + with_offending_text(address.error, *text));
              return;
            }
            store_address(target, std::move(*address.value));
          },
          nullptr};
}

KeyBinding threads_key(std::string path, std::string default_text, std::string doc) {
  return {key_info(std::move(path), KeyType::threads, std::move(default_text), std::move(doc)),
          [](ValueReader& reader, const YAML::Node& node, const std::string& path,
             ApplyTarget& target) {
            const auto text = reader.text(node, path, "auto or a number of threads");
            if (!text) return;
            if (*text == "auto") {
              target.config.server.threads = 0;
              return;
            }
            unsigned count = 0;
            bool valid = !text->empty() && text->size() <= 4;
            for (char c : *text) {
              valid = valid && c >= '0' && c <= '9';
              if (valid) count = count * 10 + static_cast<unsigned>(c - '0');
            }
            if (!valid || count == 0) {
              reader.error(node,
                           "`" + path + "`: " +
                               with_offending_text(
                                   "expected auto or a number of threads from 1 to 9999", *text));
              return;
            }
            target.config.server.threads = count;
          },
          nullptr};
}

KeyBinding alias(KeyBinding binding, std::string alias_of) {
  binding.info.alias_of = std::move(alias_of);
  return binding;
}

KeyBinding named_sections(std::string path, std::string doc) {
  return {key_info(std::move(path), KeyType::named_sections, "{}", std::move(doc)), nullptr,
          nullptr};
}

JwtConfig& event_jwt(ApplyTarget& target) {
  auto& event_jwt = target.config.auth.event_jwt;
  if (!event_jwt) event_jwt.emplace();
  return *event_jwt;
}

std::optional<std::string> longer_than_zero(const Duration& value) {
  if (value.count() > 0) return std::nullopt;
  return "must be longer than 0";
}

std::optional<std::string> at_least_1_kib(const uint64_t& value) {
  if (value >= 1024) return std::nullopt;
  return "must be at least 1KiB";
}

std::optional<std::string> from_1_kib_to_64_mib(const uint64_t& value) {
  static_assert(max_message_size_cap == 64 * 1024 * 1024);
  if (value < 1024) return "must be at least 1KiB";
  if (value > max_message_size_cap) return "must be at most 64MiB";
  return std::nullopt;
}

std::optional<std::string> absolute_path(const std::string& value) {
  if (value.starts_with('/')) return std::nullopt;
  return "must start with `/`";
}

std::optional<std::string> at_most_10(const uint32_t& value) {
  if (value <= 10) return std::nullopt;
  return "must be at most 10 (each retry waits longer than the last)";
}

std::optional<std::string> at_most_100_000(const uint32_t& value) {
  if (value <= 100000) return std::nullopt;
  return "must be at most 100000 (each room keeps that many messages in memory or Redis)";
}

std::optional<std::string> from_1_to_1_000_000(const uint32_t& value) {
  if (value >= 1 && value <= 1000000) return std::nullopt;
  return "must be from 1 to 1000000";
}

KeyBinding checked_count_key(std::string path, std::string default_text, std::string doc,
                             Field<uint32_t> field, Check<uint32_t> check) {
  return {key_info(std::move(path), KeyType::integer, std::move(default_text), std::move(doc)),
          [field, check](ValueReader& reader, const YAML::Node& node, const std::string& path,
                         ApplyTarget& target) {
            const auto value =
                reader.read_unsigned(node, path, std::numeric_limits<uint32_t>::max());
            if (!value) return;
            store(reader, node, path, target,
                  std::optional<uint32_t>(static_cast<uint32_t>(*value)), field, check);
          },
          nullptr};
}

KeyBinding webhook_url_key(std::string path, std::string doc) {
  return {key_info(std::move(path), KeyType::string, "", std::move(doc)),
          [](ValueReader& reader, const YAML::Node& node, const std::string& path,
             ApplyTarget& target) {
            const auto text = reader.read_string(node, path);
            if (!text) return;
            auto url = parse_webhook_url(*text);
            if (!url) {
              reader.error(node, "`" + path + "`: " + with_offending_text(url.error, *text));
              return;
            }
            target.webhook->url = *text;
            target.webhook->address = std::move(*url.value);
          },
          nullptr};
}

// `cluster.redis`: one URL, or a list of them (the shards). Secret: a URL may hold a password,
// which no error repeats (redis::parse_redis_url).
KeyBinding cluster_redis_key() {
  KeyInfo info = key_info("cluster.redis", KeyType::string_list, "[]",
                          "redis://[[user]:password@]host[:port][/db], or a list of such URLs: "
                          "the shards, each room's and user's traffic on one of them (by a "
                          "stable hash of its name); [] or \"\" = a single node, everything in "
                          "memory (so `${REDIS_URL:-}` turns cluster mode on from the "
                          "environment)");
  info.secret = true;
  return {std::move(info),
          [](ValueReader& reader, const YAML::Node& node, const std::string& path,
             ApplyTarget& target) {
            std::vector<std::pair<YAML::Node, std::string>> texts;
            if (node.IsScalar()) {
              auto text = reader.read_secret(node, path);
              if (!text) return;
              if (!text->empty()) texts.emplace_back(node, std::move(*text));
            } else {
              auto items = reader.read_string_list(node, path);
              if (!items) return;
              for (size_t i = 0; i < items->size(); ++i) {
                texts.emplace_back(node[i], std::move((*items)[i]));
              }
            }
            std::vector<redis::RedisUrl> urls;
            for (size_t i = 0; i < texts.size(); ++i) {
              const std::string where =
                  node.IsScalar() ? path : path + "[" + std::to_string(i) + "]";
              auto parsed = redis::parse_redis_url(texts[i].second);
              if (auto* problem = std::get_if<std::string>(&parsed)) {
                reader.error(texts[i].first, "`" + where + "`: " + *problem);
                return;
              }
              auto& url = std::get<redis::RedisUrl>(parsed);
              for (const redis::RedisUrl& earlier : urls) {
                if (earlier.host == url.host && earlier.port == url.port && earlier.db == url.db) {
                  reader.error(texts[i].first, "`" + where + "`: " + url.display() +
                                                   " is listed twice; each shard is one Redis");
                  return;
                }
              }
              urls.push_back(std::move(url));
            }
            target.config.cluster.redis = std::move(urls);
          },
          nullptr};
}

std::optional<std::string> channel_prefix(const std::string& value) {
  if (value.empty()) return "must not be empty";
  if (value.size() > 64) return "must be at most 64 bytes";
  for (unsigned char c : value) {
    if (c <= ' ' || c >= 0x7f) return "must be printable ASCII without spaces";
  }
  return std::nullopt;
}

std::optional<std::string> at_least_a_second(const Duration& value) {
  if (value >= std::chrono::seconds(1)) return std::nullopt;
  return "must be at least 1s";
}

std::optional<std::string> positive_count(const RateSpec& value) {
  if (value.count > 0) return std::nullopt;
  return "must allow at least 1 error per window";
}

std::vector<KeyBinding> make_key_bindings() {
  using SC = SlowConsumerPolicy;
  using CM = ConnectionLimitMode;
  using T = ApplyTarget;
  std::vector<KeyBinding> keys = {
      section("server", "the listener and the limits of each connection"),
      address_key("server.address", ":8080",
                  "host:port to listen on; \":8080\" = every IPv4 interface, \"[::]:8080\" = IPv6 "
                  "and IPv4, \"[::1]:8080\" = IPv6 loopback; port 0 = any free port",
                  [](T& t, ListenAddress address) {
                    t.config.server.host = std::move(address.host);
                    t.config.server.port = address.port;
                  }),
      string_key(
          "server.path", "/ws", "the URL path of the WebSocket endpoint",
          [](T& t) -> std::string& { return t.config.server.path; }, absolute_path),
      string_list_key(
          "server.allowed_origins", "[]",
          "exact origins or wildcards like \"https://*.example.com\"; \"*\" allows all; "
          "[] = no Origin, or the request's own Host",
          [](T& t) -> std::vector<std::string>& { return t.config.server.allowed_origins; }),
      size_key(
          "server.max_message_size", "64KiB",
          "largest frame or message a client may send (larger: close 1009); at most 64MiB",
          [](T& t) -> uint64_t& { return t.config.server.max_message_size; }, from_1_kib_to_64_mib),
      duration_key(
          "server.ping_interval", "25s",
          "how often the server pings; a client silent for ping_interval + pong_timeout "
          "is dropped",
          [](T& t) -> Duration& { return t.config.server.ping_interval; }, longer_than_zero),
      duration_key("server.pong_timeout", "10s",
                   "how much longer than ping_interval a silent client is kept; then close 4000",
                   [](T& t) -> Duration& { return t.config.server.pong_timeout; }),
      duration_key("server.read_timeout", "0",
                   "close 4000 when no data message arrives for this long (pings do not count); "
                   "0 = off",
                   [](T& t) -> Duration& { return t.config.server.read_timeout; }),
      size_key("server.send_queue_limit", "1MiB",
               "bytes queued for one connection before slow_consumer applies",
               [](T& t) -> uint64_t& { return t.config.server.send_queue_limit; }),
      choice_key<SC>("server.slow_consumer", "disconnect",
                     "a connection over send_queue_limit: disconnect (close 1008 \"slow "
                     "consumer\"), drop_newest or drop_oldest",
                     {SC::disconnect, SC::drop_newest, SC::drop_oldest},
                     [](T& t) -> SC& { return t.config.server.slow_consumer; }),
      duration_key("server.shutdown_grace", "10s",
                   "on SIGINT/SIGTERM, how long to drain before closing",
                   [](T& t) -> Duration& { return t.config.server.shutdown_grace; }),
      duration_key(
          "server.step_timeout", "30s",
          "a step still pending (e.g. a custom action waiting on I/O) after this is answered "
          "with error `internal`; the connection's next messages then run",
          [](T& t) -> Duration& { return t.config.server.step_timeout; }, longer_than_zero),
      duration_key("server.handshake_timeout", "10s",
                   "the upgrade request must arrive whole within this",
                   [](T& t) -> Duration& { return t.config.server.handshake_timeout; }),
      size_key(
          "server.max_header_size", "8KiB", "largest upgrade request header",
          [](T& t) -> uint64_t& { return t.config.server.max_header_size; }, at_least_1_kib),
      integer_key<uint64_t>("server.max_connections", "0",
                            "0 = as many as file descriptors allow; beyond it new ones get 503",
                            [](T& t) -> uint64_t& { return t.config.server.max_connections; }),
      integer_key<uint32_t>(
          "server.max_handshakes_per_ip", "256",
          "sockets one client IP (the TCP peer address) may have in their handshake at once; "
          "beyond it new ones get 429; 0 = unlimited",
          [](T& t) -> uint32_t& { return t.config.server.max_handshakes_per_ip; }),
      integer_key<uint32_t>(
          "server.max_rooms_per_connection", "100",
          "rooms one connection may be a member of; 0 = unlimited",
          [](T& t) -> uint32_t& { return t.config.server.max_rooms_per_connection; }),
      rate_key(
          "server.error_budget", "10/10s",
          "error replies a connection may earn (rate_limited ones do not count); beyond it: "
          "close 1008",
          [](T& t) -> RateSpec& { return t.config.server.error_budget; }, positive_count),
      {key_info("server.trusted_proxies", KeyType::string_list, "[]",
                "CIDRs (IPv4 or IPv6, or single addresses) of reverse proxies: a connection from "
                "one takes its client IP from X-Forwarded-For (the rightmost address that is not "
                "itself a trusted proxy) for auth.max_connections_per_ip and "
                "auth.handshake_rate_per_ip"),
       [](ValueReader& reader, const YAML::Node& node, const std::string& path, T& target) {
         auto items = reader.read_string_list(node, path);
         if (!items) return;
         std::vector<Cidr> ranges;
         for (size_t i = 0; i < items->size(); ++i) {
           auto range = parse_cidr((*items)[i]);
           if (!range) {
             reader.error(node[i], "`" + path + "[" + std::to_string(i) +
                                       "]`: " + with_offending_text(range.error, (*items)[i]));
             return;
           }
           ranges.push_back(*range.value);
         }
         target.config.server.trusted_proxies = std::move(ranges);
       },
       nullptr},
      address_key(
          "server.admin_address", "",
          "a second listener (host:port) for /metrics and /api/*, which are then served "
          "only there (see [api](#api)); \"\" = both on server.address",
          [](T& t, ListenAddress address) { t.config.server.admin_address = std::move(address); },
          true),
      threads_key("server.threads", "auto",
                  "event loops; auto = one per CPU in the process's affinity mask"),
      not_supported("server.tls", KeyType::mapping, "{cert: \"\", key: \"\"}",
                    "wss:// when both cert and key (PEM files) are set"),
      string_key("server.static_dir", "",
                 "a directory whose files are served over plain HTTP on the same port "
                 "(GET /, /index.html, ...): demo pages; \"\" = off; relative to the working "
                 "directory; one that is not a directory is a `check` error",
                 [](T& t) -> std::string& { return t.config.server.static_dir; }),
      section("server.auth", "GoDispatch compatibility"),
      alias(secret_key("server.auth.jwtSecret", "", "GoDispatch's name for auth.jwt.secret",
                       [](T& t) -> std::string& { return t.config.auth.jwt.secret; }),
            "auth.jwt.secret"),
      section("server.connectionLimit", "GoDispatch compatibility"),
      alias(integer_key<uint32_t>(
                "server.connectionLimit.maxPerUser", "0",
                "GoDispatch's name for auth.connection_limit.max_per_user",
                [](T& t) -> uint32_t& { return t.config.auth.connection_limit.max_per_user; }),
            "auth.connection_limit.max_per_user"),
      alias(choice_key<CM>("server.connectionLimit.mode", "reject",
                           "GoDispatch's name for auth.connection_limit.mode",
                           {CM::reject, CM::cycle},
                           [](T& t) -> CM& { return t.config.auth.connection_limit.mode; }),
            "auth.connection_limit.mode"),

      section("auth", "who may connect"),
      section("auth.jwt", "the connection token (JWT)"),
      secret_key("auth.jwt.secret", "${DISPATCH_JWT_SECRET}",
                 "HMAC secret (HS256/384/512); when absent: env DISPATCH_JWT_SECRET, else "
                 "GODISPATCH_SERVER_AUTH_JWTSECRET",
                 [](T& t) -> std::string& { return t.config.auth.jwt.secret; }),
      string_key("auth.jwt.public_key_file", "",
                 "PEM public key file for RS256/384/512, ES256/384 or EdDSA tokens, instead of or "
                 "beside the secret; each key accepts only its own algorithms",
                 [](T& t) -> std::string& { return t.config.auth.jwt.public_key_file; }),
      string_key("auth.jwt.issuer", "", "when set, the token's iss must match",
                 [](T& t) -> std::string& { return t.config.auth.jwt.issuer; }),
      string_key("auth.jwt.audience", "", "when set, the token's aud must contain it",
                 [](T& t) -> std::string& { return t.config.auth.jwt.audience; }),
      duration_key("auth.jwt.leeway", "30s", "clock skew allowed for exp and nbf",
                   [](T& t) -> Duration& { return t.config.auth.jwt.leeway; }),
      bool_key("auth.jwt.require_exp", "false", "true: tokens without exp are refused",
               [](T& t) -> bool& { return t.config.auth.jwt.require_exp; }),
      section("auth.event_jwt",
              "tokens checked by the `secure` modifier; unset keys take auth.jwt's values"),
      secret_key("auth.event_jwt.secret", "${DISPATCH_EVENT_JWT_SECRET:-}",
                 "HMAC secret for event tokens, never the session's; empty = `secure` cannot be "
                 "used (a check error)",
                 [](T& t) -> std::string& { return event_jwt(t).secret; }),
      string_key("auth.event_jwt.issuer", "", "default: auth.jwt.issuer",
                 [](T& t) -> std::string& { return event_jwt(t).issuer; }),
      string_key("auth.event_jwt.audience", "", "default: auth.jwt.audience",
                 [](T& t) -> std::string& { return event_jwt(t).audience; }),
      duration_key("auth.event_jwt.leeway", "30s", "default: auth.jwt.leeway",
                   [](T& t) -> Duration& { return event_jwt(t).leeway; }),
      bool_key("auth.event_jwt.require_exp", "false", "default: auth.jwt.require_exp",
               [](T& t) -> bool& { return event_jwt(t).require_exp; }),
      bool_key("auth.refuse_after_upgrade", "false",
               "true: refusals complete the upgrade, then close 44xx (browsers can see why)",
               [](T& t) -> bool& { return t.config.auth.refuse_after_upgrade; }),
      bool_key("auth.anonymous", "false",
               "true: connections without a token get user id \"anon:<conn id>\"",
               [](T& t) -> bool& { return t.config.auth.anonymous; }),
      section("auth.connection_limit", "connections per user"),
      integer_key<uint32_t>(
          "auth.connection_limit.max_per_user", "0",
          "connections one user may hold (in cluster mode: on all nodes together); 0 = unlimited",
          [](T& t) -> uint32_t& { return t.config.auth.connection_limit.max_per_user; }),
      choice_key<CM>("auth.connection_limit.mode", "reject",
                     "at the limit: reject the new connection, or cycle (close the oldest, on "
                     "whichever node it is)",
                     {CM::reject, CM::cycle},
                     [](T& t) -> CM& { return t.config.auth.connection_limit.mode; }),
      integer_key<uint32_t>(
          "auth.max_connections_per_ip", "0",
          "open connections one client IP (the TCP peer address) may hold (in cluster mode: on "
          "all nodes together); beyond it the upgrade is refused with 429 "
          "too_many_connections_per_ip; 0 = unlimited",
          [](T& t) -> uint32_t& { return t.config.auth.max_connections_per_ip; }),
      rate_key("auth.handshake_rate_per_ip", "0/1m",
               "WebSocket upgrade requests one client IP (an IPv6 client: its /64) may make per "
               "window, accepted or not; beyond it 429 handshake_rate_limited with Retry-After; "
               "count 0 = no limit",
               [](T& t) -> RateSpec& { return t.config.auth.handshake_rate_per_ip; }),

      string_list_key("permissions", "[]", "names a token may carry in its `perms` claim",
                      [](T& t) -> std::vector<std::string>& { return t.config.permissions; }),
      named_sections("rooms",
                     "room policies by glob on the room id (`*` any run of characters, `?` one); "
                     "the first matching glob in file order wins"),
      section("rooms.<name>", "one room policy"),
      integer_key<uint32_t>(
          "rooms.<name>.max_members", "0",
          "distinct users the room may hold (two connections of one user count once); a `_join` "
          "beyond it is `room_full`; 0 = unlimited",
          [](T& t) -> uint32_t& { return t.room->max_members; }),
      {key_info("rooms.<name>.join_permission", KeyType::string, "\"\"",
                "a permission (from `permissions`) the sender of a `_join` to the room must hold; "
                "\"\" = none"),
       [](ValueReader& reader, const YAML::Node& node, const std::string& path, ApplyTarget& t) {
         if (auto value = reader.read_string(node, path)) {
           t.room->join_permission = std::move(*value);
           t.room->join_permission_mark = reader.mark_of(node);
         }
       },
       nullptr},
      bool_key("rooms.<name>.member_only_send", "false",
               "only a member connection may `_notify_room` to the room; others get `forbidden`",
               [](T& t) -> bool& { return t.room->member_only_send; }),
      lint_ignore_key("rooms.<name>.lint_ignore",
                      "`dispatch check` lints not to report for this policy (see [lints](#lints))",
                      [](T& t) -> std::vector<std::string>& { return t.room->lint_ignore; }),
      bool_key("rooms.<name>.presence", "false",
               "the room's distinct users and connection count are known on every node: "
               "`_presence` answers them, and so does the API's room info",
               [](T& t) -> bool& { return t.room->presence; }),
      section("rooms.<name>.history",
              "the room keeps its last messages, each with an offset, for recovery (see "
              "[history and recovery](#history-and-recovery))"),
      checked_count_key(
          "rooms.<name>.history.size", "0",
          "room messages (`_notify_room` and the API's publish) kept; 0 = no history; at most "
          "100000",
          [](T& t) -> uint32_t& { return t.room->history_size; }, at_most_100_000),
      duration_key(
          "rooms.<name>.history.ttl", "10m", "how long a kept message stays",
          [](T& t) -> Duration& { return t.room->history_ttl; }, longer_than_zero),
      named_sections("events", "the events clients may send, by name (case-sensitive)"),
      section("events.<name>", "one event"),
      schema_key("events.<name>.schema",
                 "a JSON Schema subset the payload must satisfy, checked before the modifiers; "
                 "see [payload schemas](#payload-schemas)"),
      steps_key("events.<name>.modifiers", "guards run in order before the actions",
                [](T& t) -> std::vector<StepSpec>& { return t.event->modifiers; }),
      steps_key("events.<name>.actions", "steps run in order",
                [](T& t) -> std::vector<StepSpec>& { return t.event->actions; }),
      lint_ignore_key("events.<name>.lint_ignore",
                      "`dispatch check` lints not to report for this event (see [lints](#lints))",
                      [](T& t) -> std::vector<std::string>& { return t.event->lint_ignore; }),
      section("cluster", "several nodes acting as one over Redis (see [cluster](#cluster))"),
      cluster_redis_key(),
      string_key(
          "cluster.prefix", "dispatch",
          "the first part of every Redis channel and key this cluster uses, so that clusters "
          "can share one Redis (pub/sub ignores the db number)",
          [](T& t) -> std::string& { return t.config.cluster.prefix; }, channel_prefix),
      duration_key(
          "cluster.node_lease", "10s",
          "how long a node's connections keep counting toward cluster-wide limits after it "
          "stops renewing its lease (a crash); renewed every third of it; at least 1s",
          [](T& t) -> Duration& { return t.config.cluster.node_lease; }, at_least_a_second),
      section("api", "the HTTP server API (see [docs/API.md](API.md))"),
      secret_key("api.key", "${DISPATCH_API_KEY:-}",
                 "the Bearer key of /api/*; when absent: env DISPATCH_API_KEY; \"\" = the API "
                 "is off (/api/* answers 404)",
                 [](T& t) -> std::string& { return t.config.api.key; }),
      named_sections("webhooks",
                     "named targets for the `_webhook` action (see [webhooks](#webhooks))"),
      section("webhooks.<name>", "one target"),
      webhook_url_key("webhooks.<name>.url",
                      "required: http://host[:port][/path]; the host is a name, an IPv4 address "
                      "or [an IPv6 address]; no https:// yet (no TLS client)"),
      secret_key("webhooks.<name>.secret", "",
                 "when set, each POST carries X-Dispatch-Signature (HMAC-SHA256 of "
                 "\"<t>.<body>\"); \"\" = unsigned",
                 [](T& t) -> std::string& { return t.webhook->secret; }),
      duration_key(
          "webhooks.<name>.timeout", "2s",
          "how long one attempt (connect, send, answer) may take; then it counts as failed",
          [](T& t) -> Duration& { return t.webhook->timeout; }, longer_than_zero),
      checked_count_key(
          "webhooks.<name>.retries", "3",
          "attempts after the first on a 5xx, a timeout or a refused connection (4xx is final); "
          "at most 10",
          [](T& t) -> uint32_t& { return t.webhook->retries; }, at_most_10),
      checked_count_key(
          "webhooks.<name>.queue", "1000",
          "deliveries that may wait for a connection; beyond it they are dropped, "
          "counted and logged",
          [](T& t) -> uint32_t& { return t.webhook->queue; }, from_1_to_1_000_000),
      section("hooks", "action lists run on lifecycle events (see [hooks](#hooks))"),
      steps_key("hooks.on_connect", "run after a connection is accepted (after its `welcome`)",
                [](T& t) -> std::vector<StepSpec>& { return t.config.hooks.on_connect; }),
      steps_key("hooks.on_disconnect",
                "run when an accepted connection closes, for any reason, after it left its rooms",
                [](T& t) -> std::vector<StepSpec>& { return t.config.hooks.on_disconnect; }),
      steps_key("hooks.on_join",
                "run after a connection joins a room; templates may use `{$room.id}`",
                [](T& t) -> std::vector<StepSpec>& { return t.config.hooks.on_join; }),
      steps_key("hooks.on_leave",
                "run after a connection leaves a room, also for each room it was in when it "
                "closes; templates may use `{$room.id}`",
                [](T& t) -> std::vector<StepSpec>& { return t.config.hooks.on_leave; }),
      section("log", "logging"),
      choice_key<LogLevel>("log.level", "info", "JSON lines on stdout from this level up",
                           {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error},
                           [](T& t) -> LogLevel& { return t.config.log_level; }),
      section("transport", "GoDispatch compatibility"),
      alias(duration_key("transport.readTimeout", "0", "GoDispatch's name for server.read_timeout",
                         [](T& t) -> Duration& { return t.config.server.read_timeout; }),
            "server.read_timeout"),
  };

  for (KeyBinding& key : keys) {
    if (key.info.path == "rooms.<name>") {
      key.enter = [](ApplyTarget& target, const std::string& name, const SourceMark& mark) {
        RoomPolicy& room = target.config.rooms.emplace_back();
        room.glob = name;
        room.mark = mark;
        target.room = &room;
      };
    }
    if (key.info.path == "webhooks.<name>") {
      key.enter = [](ApplyTarget& target, const std::string& name, const SourceMark& mark) {
        WebhookTarget& webhook = target.config.webhooks.emplace_back();
        webhook.name = name;
        webhook.mark = mark;
        target.webhook = &webhook;
      };
    }
    if (key.info.path == "events.<name>") {
      key.enter = [](ApplyTarget& target, const std::string& name, const SourceMark& mark) {
        EventSpec& event = target.config.events.emplace_back();
        event.name = name;
        event.mark = mark;
        target.event = &event;
      };
    }
  }
  return keys;
}

}  // namespace

std::string_view to_string(KeyType type) {
  switch (type) {
    case KeyType::section:
      return "section";
    case KeyType::named_sections:
      return "map of names";
    case KeyType::mapping:
      return "mapping";
    case KeyType::string:
      return "string";
    case KeyType::boolean:
      return "boolean";
    case KeyType::integer:
      return "integer";
    case KeyType::size:
      return "size";
    case KeyType::duration:
      return "duration";
    case KeyType::rate:
      return "rate";
    case KeyType::address:
      return "host:port";
    case KeyType::threads:
      return "threads";
    case KeyType::choice:
      return "choice";
    case KeyType::string_list:
      return "list of strings";
    case KeyType::steps:
      return "list of steps";
    case KeyType::schema:
      return "payload schema";
    case KeyType::any:
      return "any";
  }
  return "?";
}

const std::vector<KeyBinding>& key_bindings() {
  static const std::vector<KeyBinding> bindings = make_key_bindings();
  return bindings;
}

const KeyBinding* find_key_binding(std::string_view path) {
  for (const KeyBinding& binding : key_bindings()) {
    if (binding.info.path == path) return &binding;
  }
  return nullptr;
}

const std::vector<KeyInfo>& config_keys() {
  static const std::vector<KeyInfo> keys = [] {
    std::vector<KeyInfo> infos;
    for (const KeyBinding& binding : key_bindings()) infos.push_back(binding.info);
    return infos;
  }();
  return keys;
}

const KeyInfo* find_config_key(std::string_view path) {
  const KeyBinding* binding = find_key_binding(path);
  return binding ? &binding->info : nullptr;
}

}  // namespace dispatch::config
