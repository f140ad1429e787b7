// The key table is complete, consistent with the struct defaults, and usable for docs; and the
// "did you mean" matcher behind unknown-key hints.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "config/key_table.h"
#include "config/suggestion.h"
#include "config_test_support.h"

namespace dispatch::config {
namespace {

using test_support::error_lines;
using test_support::load;
using ::testing::IsEmpty;

std::string parent_of(const std::string& path) {
  const size_t dot = path.rfind('.');
  return dot == std::string::npos ? "" : path.substr(0, dot);
}

TEST(ConfigKeyTable, EveryKeyOfTheSpecIsListed) {
  // SPEC.md section 2, plus the GoDispatch compatibility keys, the event_jwt keys that
  // default to the session's, server.step_timeout and server.max_handshakes_per_ip (issue 8),
  // and lint_ignore of events and room policies (dispatch check's lints, SPEC section 8.2).
  const std::set<std::string> spec_keys = {"server",
                                           "server.address",
                                           "server.path",
                                           "server.allowed_origins",
                                           "server.max_message_size",
                                           "server.ping_interval",
                                           "server.pong_timeout",
                                           "server.read_timeout",
                                           "server.send_queue_limit",
                                           "server.slow_consumer",
                                           "server.shutdown_grace",
                                           "server.step_timeout",
                                           "server.handshake_timeout",
                                           "server.max_header_size",
                                           "server.max_connections",
                                           "server.max_handshakes_per_ip",
                                           "server.max_rooms_per_connection",
                                           "server.error_budget",
                                           "server.trusted_proxies",
                                           "server.admin_address",
                                           "server.threads",
                                           "server.tls",
                                           "server.static_dir",
                                           "auth",
                                           "auth.jwt",
                                           "auth.jwt.secret",
                                           "auth.jwt.public_key_file",
                                           "auth.jwt.issuer",
                                           "auth.jwt.audience",
                                           "auth.jwt.leeway",
                                           "auth.jwt.require_exp",
                                           "auth.event_jwt",
                                           "auth.event_jwt.secret",
                                           "auth.event_jwt.issuer",
                                           "auth.event_jwt.audience",
                                           "auth.event_jwt.leeway",
                                           "auth.event_jwt.require_exp",
                                           "auth.refuse_after_upgrade",
                                           "auth.anonymous",
                                           "auth.connection_limit",
                                           "auth.connection_limit.max_per_user",
                                           "auth.connection_limit.mode",
                                           "auth.max_connections_per_ip",
                                           "auth.handshake_rate_per_ip",
                                           "permissions",
                                           "rooms",
                                           "rooms.<name>",
                                           "rooms.<name>.max_members",
                                           "rooms.<name>.join_permission",
                                           "rooms.<name>.member_only_send",
                                           "rooms.<name>.lint_ignore",
                                           "rooms.<name>.presence",
                                           "rooms.<name>.history",
                                           "rooms.<name>.history.size",
                                           "rooms.<name>.history.ttl",
                                           "events",
                                           "events.<name>",
                                           "events.<name>.schema",
                                           "events.<name>.modifiers",
                                           "events.<name>.actions",
                                           "events.<name>.lint_ignore",
                                           "cluster",
                                           "cluster.redis",
                                           "cluster.prefix",
                                           "cluster.node_lease",
                                           "api",
                                           "api.key",
                                           "webhooks",
                                           "webhooks.<name>",
                                           "webhooks.<name>.url",
                                           "webhooks.<name>.secret",
                                           "webhooks.<name>.timeout",
                                           "webhooks.<name>.retries",
                                           "webhooks.<name>.queue",
                                           "hooks",
                                           "hooks.on_connect",
                                           "hooks.on_disconnect",
                                           "hooks.on_join",
                                           "hooks.on_leave",
                                           "log",
                                           "log.level",
                                           "server.auth",
                                           "server.auth.jwtSecret",
                                           "server.connectionLimit",
                                           "server.connectionLimit.maxPerUser",
                                           "server.connectionLimit.mode",
                                           "transport",
                                           "transport.readTimeout"};
  std::set<std::string> table_keys;
  for (const KeyInfo& key : config_keys()) {
    EXPECT_TRUE(table_keys.insert(key.path).second) << "listed twice: " << key.path;
  }
  EXPECT_EQ(table_keys, spec_keys);
}

TEST(ConfigKeyTable, ParentsComeFirstAndEveryKeyIsDocumented) {
  std::map<std::string, KeyType> seen;
  for (const KeyInfo& key : config_keys()) {
    EXPECT_FALSE(key.doc.empty()) << key.path;
    const std::string parent = parent_of(key.path);
    if (!parent.empty()) {
      ASSERT_TRUE(seen.count(parent)) << key.path << " comes before its parent";
      const KeyType parent_type = seen[parent];
      EXPECT_TRUE(parent_type == KeyType::section || parent_type == KeyType::named_sections)
          << key.path;
      EXPECT_EQ(parent_type == KeyType::named_sections, key.path.ends_with("<name>")) << key.path;
    }
    if (key.type == KeyType::choice) {
      EXPECT_THAT(key.choices, ::testing::Contains(key.default_text)) << key.path;
    } else {
      EXPECT_THAT(key.choices, IsEmpty()) << key.path;
    }
    EXPECT_FALSE(to_string(key.type).empty());
    seen[key.path] = key.type;
  }
  ASSERT_NE(find_config_key("server.slow_consumer"), nullptr);
  EXPECT_THAT(find_config_key("server.slow_consumer")->choices,
              ::testing::ElementsAre("disconnect", "drop_newest", "drop_oldest"));
  EXPECT_EQ(find_config_key("server.nope"), nullptr);
}

TEST(ConfigKeyTable, NotImplementedKeysAreMarked) {
  std::set<std::string> not_implemented;
  for (const KeyInfo& key : config_keys()) {
    if (!key.implemented) not_implemented.insert(key.path);
  }
  EXPECT_EQ(not_implemented, (std::set<std::string>{"server.tls"}));
}

TEST(ConfigKeyTable, CompatibilityAliasesAndSecretsAreMarked) {
  std::map<std::string, std::string> aliases;
  std::set<std::string> secrets;
  for (const KeyInfo& key : config_keys()) {
    if (!key.alias_of.empty()) {
      aliases[key.path] = key.alias_of;
      const KeyInfo* target = find_config_key(key.alias_of);
      ASSERT_NE(target, nullptr) << key.alias_of;
      EXPECT_EQ(target->type, key.type) << key.path;
    }
    if (key.secret) secrets.insert(key.path);
  }
  EXPECT_EQ(aliases,
            (std::map<std::string, std::string>{
                {"server.auth.jwtSecret", "auth.jwt.secret"},
                {"server.connectionLimit.maxPerUser", "auth.connection_limit.max_per_user"},
                {"server.connectionLimit.mode", "auth.connection_limit.mode"},
                {"transport.readTimeout", "server.read_timeout"}}));
  EXPECT_EQ(secrets, (std::set<std::string>{"auth.jwt.secret", "auth.event_jwt.secret",
                                            "server.auth.jwtSecret", "webhooks.<name>.secret",
                                            "api.key", "cluster.redis"}));
}

// Writes every implemented key with its documented default into one config; loading it must
// give exactly what an empty config gives, so the table's defaults and config.h agree.
TEST(ConfigKeyTable, DocumentedDefaultsAreTheStructDefaults) {
  // section -> subsection ("" for none) -> key ("" for none) -> YAML value
  std::map<std::string, std::map<std::string, std::map<std::string, std::string>>> tree;
  size_t keys_written = 0;
  for (const KeyInfo& key : config_keys()) {
    const bool leaf = key.type != KeyType::section && key.type != KeyType::named_sections;
    if (!key.implemented || !leaf || key.secret || !key.alias_of.empty() ||
        key.path.find("<name>") != std::string::npos) {
      continue;
    }
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      const size_t dot = key.path.find('.', start);
      parts.push_back(key.path.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    ASSERT_LE(parts.size(), 3u) << key.path;
    parts.resize(3);
    tree[parts[0]][parts[1]][parts[2]] =
        key.type == KeyType::string_list || key.type == KeyType::steps
            ? "[]"
            : "\"" + key.default_text + "\"";
    ++keys_written;
  }
  EXPECT_GT(keys_written, 25u);

  std::string yaml;
  for (const auto& [section, subsections] : tree) {
    if (subsections.size() == 1 && subsections.begin()->first.empty()) {
      yaml += section + ": " + subsections.begin()->second.begin()->second + "\n";
      continue;
    }
    yaml += section + ":\n";
    for (const auto& [subsection, leaves] : subsections) {
      if (leaves.size() == 1 && leaves.begin()->first.empty()) {
        yaml += "  " + subsection + ": " + leaves.begin()->second + "\n";
        continue;
      }
      yaml += "  " + subsection + ":\n";
      for (const auto& [leaf, value] : leaves) yaml += "    " + leaf + ": " + value + "\n";
    }
  }

  const LoadResult with_defaults = load(yaml);
  const LoadResult empty = load("");
  ASSERT_THAT(error_lines(with_defaults), IsEmpty()) << yaml;
  ASSERT_TRUE(empty.config);
  ServerConfig server = with_defaults.config->server;
  server.static_dir_mark = empty.config->server.static_dir_mark;  // where it was written, here
  EXPECT_EQ(server, empty.config->server) << yaml;
  EXPECT_EQ(with_defaults.config->hooks, empty.config->hooks) << yaml;
  JwtConfig jwt = with_defaults.config->auth.jwt;
  jwt.mark = empty.config->auth.jwt.mark;  // where `auth.jwt:` was written, here
  jwt.public_key_mark = empty.config->auth.jwt.public_key_mark;
  EXPECT_EQ(jwt, empty.config->auth.jwt) << yaml;
  EXPECT_EQ(with_defaults.config->auth.connection_limit, empty.config->auth.connection_limit);
  EXPECT_EQ(with_defaults.config->auth.anonymous, empty.config->auth.anonymous);
  EXPECT_EQ(with_defaults.config->auth.refuse_after_upgrade,
            empty.config->auth.refuse_after_upgrade);
  EXPECT_EQ(with_defaults.config->permissions, empty.config->permissions);
  EXPECT_EQ(with_defaults.config->log_level, empty.config->log_level);
}

TEST(ConfigSuggestion, FindsCloseWordsOnly) {
  const std::vector<std::string> keys = {"max_message_size", "max_header_size", "path",
                                         "ping_interval", "pong_timeout"};
  EXPECT_EQ(closest_match("max_mesage_size", keys), "max_message_size");
  EXPECT_EQ(closest_match("maxMessageSize", keys), "max_message_size");
  EXPECT_EQ(closest_match("max-header-size", keys), "max_header_size");
  EXPECT_EQ(closest_match("ping_intreval", keys), "ping_interval");  // a swap costs 1
  EXPECT_EQ(closest_match("pth", keys), "path");
  EXPECT_EQ(closest_match("PATH", keys), "path");
  EXPECT_EQ(closest_match("colour", keys), std::nullopt);
  EXPECT_EQ(closest_match("path", keys), std::nullopt);  // an exact match is not a hint
  EXPECT_EQ(closest_match("anything", {}), std::nullopt);
  EXPECT_EQ(did_you_mean_hint("pong_timout", keys), " (did you mean `pong_timeout`?)");
  EXPECT_EQ(did_you_mean_hint("zzz", keys), "");
}

}  // namespace
}  // namespace dispatch::config
