// The config loader: values land in the right fields with the right types, defaults hold, and
// every kind of mistake is reported at its exact line:col, all of them in one run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "config/loader.h"
#include "config_test_support.h"
#include "test_paths.h"

namespace dispatch::config {
namespace {

using namespace std::chrono_literals;
using test_support::error_lines;
using test_support::kTestSecret;
using test_support::load;
using test_support::test_environment;
using test_support::warning_messages;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// --- values and defaults -------------------------------------------------------------------

TEST(ConfigLoader, EmptyFileGivesTheDefaults) {
  for (const char* text : {"", "# nothing but a comment\n", "---\n"}) {
    const LoadResult result = load(text);
    ASSERT_THAT(error_lines(result), IsEmpty()) << text;
    ASSERT_TRUE(result.config);
    const Config& config = *result.config;
    EXPECT_EQ(config.file, "test.yaml");
    EXPECT_EQ(config.server, ServerConfig{});
    EXPECT_EQ(config.auth.jwt.secret, kTestSecret);
    EXPECT_EQ(config.auth.jwt.leeway, 30s);
    EXPECT_FALSE(config.auth.event_jwt);
    EXPECT_EQ(config.auth.connection_limit, ConnectionLimit{});
    EXPECT_THAT(config.permissions, IsEmpty());
    EXPECT_THAT(config.events, IsEmpty());
    EXPECT_EQ(config.log_level, LogLevel::info);
    EXPECT_THAT(result.warnings, IsEmpty());
  }
}

TEST(ConfigLoader, StructDefaultsAreThoseOfTheSpec) {
  const ServerConfig server;
  EXPECT_EQ(server.host, "");
  EXPECT_EQ(server.port, 8080);
  EXPECT_EQ(server.path, "/ws");
  EXPECT_EQ(server.max_message_size, 65536u);
  EXPECT_EQ(server.ping_interval, 25s);
  EXPECT_EQ(server.pong_timeout, 10s);
  EXPECT_EQ(server.read_timeout, 0ms);
  EXPECT_EQ(server.send_queue_limit, 1048576u);
  EXPECT_EQ(server.slow_consumer, SlowConsumerPolicy::disconnect);
  EXPECT_EQ(server.shutdown_grace, 10s);
  EXPECT_EQ(server.handshake_timeout, 10s);
  EXPECT_EQ(server.max_header_size, 8192u);
  EXPECT_EQ(server.max_connections, 0u);
  EXPECT_EQ(server.max_rooms_per_connection, 100u);
  EXPECT_EQ(server.error_budget, (RateSpec{10, 10s}));
  EXPECT_EQ(server.threads, 0u);
  const AuthConfig auth;
  EXPECT_FALSE(auth.jwt.require_exp);
  EXPECT_FALSE(auth.refuse_after_upgrade);
  EXPECT_FALSE(auth.anonymous);
  EXPECT_EQ(auth.connection_limit.mode, ConnectionLimitMode::reject);
}

TEST(ConfigLoader, EveryImplementedKeyIsReadWithItsType) {
  const LoadResult result = load(R"(
server:
  address: "127.0.0.1:9001"
  path: /socket
  allowed_origins: ["https://*.example.com", "http://localhost:3000"]
  max_message_size: 1MiB
  ping_interval: 5s
  pong_timeout: 2500ms
  read_timeout: 1m30s
  send_queue_limit: 2097152
  slow_consumer: drop_oldest
  shutdown_grace: 1m
  handshake_timeout: 3s
  max_header_size: 16KiB
  max_connections: 50000
  max_rooms_per_connection: 7
  error_budget: 5/1h
  threads: 3
auth:
  jwt:
    secret: configured-secret-configured-secret
    issuer: https://issuer.example
    audience: dispatch
    leeway: 0
    require_exp: true
  refuse_after_upgrade: true
  anonymous: true
  connection_limit: { max_per_user: 2, mode: cycle }
permissions: [kick_user, "ban user"]
log:
  level: warn
)");
  ASSERT_THAT(error_lines(result), IsEmpty());
  const Config& config = *result.config;
  const ServerConfig& server = config.server;
  EXPECT_EQ(server.host, "127.0.0.1");
  EXPECT_EQ(server.port, 9001);
  EXPECT_EQ(server.path, "/socket");
  EXPECT_THAT(server.allowed_origins,
              ElementsAre("https://*.example.com", "http://localhost:3000"));
  EXPECT_EQ(server.max_message_size, 1048576u);
  EXPECT_EQ(server.ping_interval, 5s);
  EXPECT_EQ(server.pong_timeout, 2500ms);
  EXPECT_EQ(server.read_timeout, 90s);
  EXPECT_EQ(server.send_queue_limit, 2097152u);
  EXPECT_EQ(server.slow_consumer, SlowConsumerPolicy::drop_oldest);
  EXPECT_EQ(server.shutdown_grace, 60s);
  EXPECT_EQ(server.handshake_timeout, 3s);
  EXPECT_EQ(server.max_header_size, 16384u);
  EXPECT_EQ(server.max_connections, 50000u);
  EXPECT_EQ(server.max_rooms_per_connection, 7u);
  EXPECT_EQ(server.error_budget, (RateSpec{5, 1h}));
  EXPECT_EQ(server.threads, 3u);
  const AuthConfig& auth = config.auth;
  EXPECT_EQ(auth.jwt.secret, "configured-secret-configured-secret");
  EXPECT_EQ(auth.jwt.mark, (SourceMark{"test.yaml", 20, 13}));
  EXPECT_EQ(auth.jwt.issuer, "https://issuer.example");
  EXPECT_EQ(auth.jwt.audience, "dispatch");
  EXPECT_EQ(auth.jwt.leeway, 0ms);
  EXPECT_TRUE(auth.jwt.require_exp);
  EXPECT_TRUE(auth.refuse_after_upgrade);
  EXPECT_TRUE(auth.anonymous);
  EXPECT_EQ(auth.connection_limit, (ConnectionLimit{2, ConnectionLimitMode::cycle}));
  EXPECT_THAT(config.permissions, ElementsAre("kick_user", "ban user"));
  EXPECT_EQ(config.log_level, LogLevel::warn);
}

TEST(ConfigLoader, ListenAddressForms) {
  struct Case {
    const char* address;
    const char* host;
    uint16_t port;
  };
  for (const Case& c : {Case{":8080", "", 8080}, Case{"127.0.0.1:8080", "127.0.0.1", 8080},
                        Case{"[::1]:8080", "::1", 8080}, Case{"localhost:0", "localhost", 0},
                        Case{"0.0.0.0:65535", "0.0.0.0", 65535}}) {
    const LoadResult result = load(std::string("server:\n  address: \"") + c.address + "\"\n");
    ASSERT_THAT(error_lines(result), IsEmpty()) << c.address;
    EXPECT_EQ(result.config->server.host, c.host);
    EXPECT_EQ(result.config->server.port, c.port);
  }
}

TEST(ConfigLoader, BadListenAddressesAreErrorsAtTheValue) {
  for (const char* address : {"8080", "::1:8080", "127.0.0.1:", "127.0.0.1:99999", "[::1]8080",
                              "[::1:8080", "host name:80", "localhost:http", ""}) {
    const LoadResult result = load(std::string("server:\n  address: \"") + address + "\"\n");
    ASSERT_EQ(result.errors.size(), 1u) << address;
    EXPECT_FALSE(result.config);
    EXPECT_EQ(result.errors[0].mark, (SourceMark{"test.yaml", 2, 12})) << address;
    EXPECT_TRUE(result.errors[0].message.starts_with(
        "`server.address`: expected host:port like \":8080\", \"127.0.0.1:8080\" or "
        "\"[::1]:8080\", got `"))
        << result.errors[0].message;
  }
  EXPECT_THAT(error_lines(load("server:\n  address: 8080\n")),
              ElementsAre("test.yaml:2:12: `server.address`: expected host:port like \":8080\", "
                          "\"127.0.0.1:8080\" or \"[::1]:8080\", got `8080` (did you mean "
                          "`:8080`?)"));
}

TEST(ConfigLoader, ThreadsIsAutoOrAPositiveNumber) {
  EXPECT_EQ(load("server: {threads: auto}").config->server.threads, 0u);
  EXPECT_EQ(load("server: {threads: 8}").config->server.threads, 8u);
  for (const char* bad : {"0", "-1", "many", "1.5"}) {
    EXPECT_THAT(error_lines(load(std::string("server: {threads: ") + bad + "}")),
                ElementsAre(std::string("test.yaml:1:19: `server.threads`: expected auto or a "
                                        "number of threads from 1 to 9999, got `") +
                            bad + "`"));
  }
}

TEST(ConfigLoader, ChoicesAreSpeltExactly) {
  EXPECT_EQ(load("server: {slow_consumer: drop_newest}").config->server.slow_consumer,
            SlowConsumerPolicy::drop_newest);
  EXPECT_EQ(load("server: {slow_consumer: disconnect}").config->server.slow_consumer,
            SlowConsumerPolicy::disconnect);
  EXPECT_EQ(load("log: {level: debug}").config->log_level, LogLevel::debug);
  EXPECT_EQ(load("log: {level: error}").config->log_level, LogLevel::error);
  EXPECT_EQ(load("auth: {connection_limit: {mode: reject}}").config->auth.connection_limit.mode,
            ConnectionLimitMode::reject);

  EXPECT_THAT(error_lines(load("server:\n  slow_consumer: drop-newest\n")),
              ElementsAre("test.yaml:2:18: `server.slow_consumer`: expected one of disconnect | "
                          "drop_newest | drop_oldest, got `drop-newest` (did you mean "
                          "`drop_newest`?)"));
  EXPECT_THAT(error_lines(load("log:\n  level: INFO\n")),
              ElementsAre("test.yaml:2:10: `log.level`: expected one of debug | info | warn | "
                          "error, got `INFO` (did you mean `info`?)"));
  EXPECT_THAT(error_lines(load("log:\n  level: verbose\n")),
              ElementsAre("test.yaml:2:10: `log.level`: expected one of debug | info | warn | "
                          "error, got `verbose`"));
  EXPECT_THAT(error_lines(load("auth:\n  connection_limit:\n    mode: kick\n")),
              ElementsAre("test.yaml:3:11: `auth.connection_limit.mode`: expected one of reject "
                          "| cycle, got `kick`"));
}

TEST(ConfigLoader, KeysWithoutValueKeepTheirDefaults) {
  const LoadResult result = load(R"(
server:
  path:
  ping_interval:
  allowed_origins:
auth:
permissions:
events:
log:
)");
  ASSERT_THAT(error_lines(result), IsEmpty());
  EXPECT_EQ(result.config->server, ServerConfig{});
  EXPECT_THAT(result.config->permissions, IsEmpty());
  EXPECT_THAT(result.config->events, IsEmpty());
  EXPECT_THAT(load("permissions: []").config->permissions, IsEmpty());
}

// --- events --------------------------------------------------------------------------------

TEST(ConfigLoader, EventsKeepNamesExactlyAndInFileOrder) {
  const LoadResult result = load(R"(
events:
  Chat:
    actions:
      - name: _notify_room
  chat: {}
  room.v2/Join:
  "with space":
    modifiers: []
)");
  ASSERT_THAT(error_lines(result), IsEmpty());
  const auto& events = result.config->events;
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].name, "Chat");
  EXPECT_EQ(events[0].mark, (SourceMark{"test.yaml", 2, 3}));
  ASSERT_EQ(events[0].actions.size(), 1u);
  EXPECT_EQ(events[0].actions[0].name, "_notify_room");
  EXPECT_EQ(events[1].name, "chat");
  EXPECT_THAT(events[1].actions, IsEmpty());  // an event without actions is allowed
  EXPECT_EQ(events[2].name, "room.v2/Join");
  EXPECT_EQ(events[3].name, "with space");
  EXPECT_EQ(events[3].mark, (SourceMark{"test.yaml", 7, 3}));
}

TEST(ConfigLoader, StepsKeepParamsAsTextWithTheirPositionsAndOtherKeysAsOptions) {
  const LoadResult result = load(R"(
events:
  send:
    modifiers:
      - name: rate_limit
        params: ["10/m"]
        scope: node
        burst: 5
        note:
    actions:
      - name: _notify_room
        params:
          - new_message
          - '{"user": "{$user.id}", "n": 1}'
          - 42
          - true
          - ""
      - {name: _log}
)");
  ASSERT_THAT(error_lines(result), IsEmpty());
  const EventSpec& event = result.config->events.at(0);
  ASSERT_EQ(event.modifiers.size(), 1u);
  const StepSpec& rate_limit = event.modifiers[0];
  EXPECT_EQ(rate_limit.name, "rate_limit");
  EXPECT_EQ(rate_limit.mark, (SourceMark{"test.yaml", 4, 9}));
  EXPECT_THAT(rate_limit.params, ElementsAre("10/m"));
  EXPECT_THAT(rate_limit.param_marks, ElementsAre(SourceMark{"test.yaml", 5, 18}));
  EXPECT_EQ(rate_limit.options,
            (std::map<std::string, std::string>{{"scope", "node"}, {"burst", "5"}, {"note", ""}}));

  ASSERT_EQ(event.actions.size(), 2u);
  const StepSpec& notify = event.actions[0];
  EXPECT_EQ(notify.name, "_notify_room");
  EXPECT_THAT(notify.params,
              ElementsAre("new_message", R"({"user": "{$user.id}", "n": 1})", "42", "true", ""));
  ASSERT_EQ(notify.param_marks.size(), 5u);
  EXPECT_EQ(notify.param_marks[0], (SourceMark{"test.yaml", 12, 13}));
  EXPECT_EQ(notify.param_marks[1], (SourceMark{"test.yaml", 13, 13}));
  EXPECT_EQ(notify.param_marks[4], (SourceMark{"test.yaml", 16, 13}));
  EXPECT_TRUE(notify.options.empty());
  EXPECT_EQ(event.actions[1].name, "_log");
  EXPECT_THAT(event.actions[1].params, IsEmpty());
  EXPECT_EQ(event.actions[1].mark, (SourceMark{"test.yaml", 17, 9}));
}

// `nme: rate_limit` is not an option of a nameless step: it is `name` misspelt.
TEST(ConfigLoader, AMisspeltStepNameKeyGetsADidYouMean) {
  const LoadResult result = load(R"(
events:
  e:
    modifiers:
      - nme: rate_limit
        params: ["10/s"]
    actions:
      - {name: _reply, params: [ok, '{}']}
)");
  EXPECT_FALSE(result.config);
  EXPECT_THAT(error_lines(result),
              ElementsAre("test.yaml:4:9: unknown key `events.e.modifiers[0].nme` (did you mean "
                          "`name`?)"));
}

TEST(ConfigLoader, BadStepsAreReportedEachAtItsNode) {
  const LoadResult result = load(R"(
events:
  "":
    actions: []
  join:
    actions:
      - _join
      - name: ""
      - params: [a]
      - name: _notify_origin
        params: [ok, {"room": 1}, [1], ~]
      - name: _log
        params: "just text"
      - name: _log
        parms: [x]
        Name: y
      - name: _log
        name: _leave
      - name: _log
        extra: {a: 1}
  leave:
    actions: {name: _leave}
  ping: 5
)");
  EXPECT_FALSE(result.config);
  EXPECT_THAT(
      error_lines(result),
      ElementsAre(
          "test.yaml:2:3: `events`: names must not be empty",
          "test.yaml:6:9: `events.join.actions[0]`: expected a step like {name: _notify_room, "
          "params: [...]}, got a single value",
          "test.yaml:7:15: `events.join.actions[1].name` must not be empty",
          "test.yaml:8:9: `events.join.actions[2]`: a step needs a `name`",
          "test.yaml:10:22: `events.join.actions[3].params[1]`: expected text, got a mapping "
          "(quote JSON documents: '{\"key\": \"value\"}')",
          "test.yaml:10:35: `events.join.actions[3].params[2]`: expected text, got a list (quote "
          "JSON documents: '{\"key\": \"value\"}')",
          "test.yaml:10:40: `events.join.actions[3].params[3]` is empty; write \"\" for empty "
          "text, or quote it (\"null\")",
          "test.yaml:12:17: `events.join.actions[4].params`: expected a list like [\"a\", \"b\"], "
          "got a single value",
          "test.yaml:14:9: unknown key `events.join.actions[5].parms` (did you mean `params`?)",
          "test.yaml:15:9: unknown key `events.join.actions[5].Name` (did you mean `name`?)",
          "test.yaml:17:9: duplicate key `events.join.actions[6].name` (first set on line 16)",
          "test.yaml:19:16: `events.join.actions[7].extra`: expected text (step options are "
          "text), got a mapping",
          "test.yaml:21:14: `events.leave.actions`: expected a list of steps (`- name: ...`), got "
          "a mapping",
          "test.yaml:22:9: `events.ping`: expected a mapping, got a single value"));
}

TEST(ConfigLoader, EventsMustBeAMappingOfNames) {
  EXPECT_THAT(error_lines(load("events:\n  - chat\n")),
              ElementsAre("test.yaml:2:3: `events`: expected a mapping of names, got a list"));
}

TEST(ConfigLoader, EventKeysAreCheckedLikeAnyOther) {
  EXPECT_THAT(error_lines(load(R"(
events:
  chat:
    action: []
  chat:
    actions: []
)")),
              ElementsAre("test.yaml:3:5: unknown key `events.chat.action` (did you mean "
                          "`actions`?)",
                          "test.yaml:4:3: duplicate key `events.chat` (first set on line 2)"));
}

// --- GoDispatch compatibility -------------------------------------------------------------

TEST(ConfigLoader, GoDispatchExampleConfigLoadsUnchanged) {
  const Environment environment(
      {{"GODISPATCH_SERVER_AUTH_JWTSECRET", "a-very-secret-key-from-env-file"}}, false);
  // Kept unchanged in tests/compat (origin and licence: tests/compat/NOTICE.md).
  const auto path = test_paths::repo_root() / "tests" / "compat" / "godispatch-config.yaml";
  const LoadResult result = load_config_file(path.string(), environment);
  ASSERT_THAT(error_lines(result), IsEmpty());
  ASSERT_TRUE(result.config);
  const Config& config = *result.config;
  EXPECT_EQ(config.server.host, "");
  EXPECT_EQ(config.server.port, 8080);
  EXPECT_EQ(config.auth.connection_limit.max_per_user, 3u);
  EXPECT_EQ(config.auth.connection_limit.mode, ConnectionLimitMode::cycle);
  EXPECT_EQ(config.server.read_timeout, 60min);
  EXPECT_EQ(config.auth.jwt.secret, "a-very-secret-key-from-env-file");
  EXPECT_THAT(config.permissions, IsEmpty());
  // The example's secret is 31 bytes.
  EXPECT_THAT(warning_messages(result),
              ElementsAre("the JWT secret from GODISPATCH_SERVER_AUTH_JWTSECRET is shorter than 32 "
                          "bytes; use at least 32 random bytes"));

  ASSERT_EQ(config.events.size(), 3u);
  const EventSpec& join = config.events[0];
  EXPECT_EQ(join.name, "join_room");
  EXPECT_THAT(join.modifiers, IsEmpty());
  ASSERT_EQ(join.actions.size(), 4u);
  EXPECT_EQ(join.actions[0].name, "_join");
  EXPECT_THAT(join.actions[0].params, ElementsAre("{$user.id}", "{$target.id}"));
  EXPECT_EQ(join.actions[1].name, "_notify_origin");
  EXPECT_THAT(join.actions[1].params,
              ElementsAre("join_success", R"({"room": "{$target.id}", "status": "ok"})"));
  EXPECT_EQ(join.actions[2].name, "_notify_room");
  EXPECT_THAT(
      join.actions[2].params,
      ElementsAre("user_joined", R"({"user": {"id":"{$user.id}", "name": "{.payload.name}"}})"));
  EXPECT_EQ(join.actions[3].name, "_log");
  EXPECT_THAT(join.actions[3].params, ElementsAre("User {$user.id} joined room {$target.id}"));

  const EventSpec& leave = config.events[1];
  EXPECT_EQ(leave.name, "leave_room");
  ASSERT_EQ(leave.actions.size(), 3u);
  EXPECT_EQ(leave.actions[0].name, "_leave");
  EXPECT_THAT(leave.actions[0].params, ElementsAre("{$user.id}", "{$target.id}"));
  EXPECT_EQ(leave.actions[1].name, "_notify_room");
  EXPECT_THAT(leave.actions[1].params,
              ElementsAre("user_left", R"({"user": "{$user.id}", "room": "{$target.id}"})"));
  EXPECT_EQ(leave.actions[2].name, "_log");
  EXPECT_THAT(leave.actions[2].params, ElementsAre("User {$user.id} left room {$target.id}"));

  const EventSpec& send = config.events[2];
  EXPECT_EQ(send.name, "send_message");
  ASSERT_EQ(send.modifiers.size(), 1u);
  EXPECT_EQ(send.modifiers[0].name, "rate_limit");
  EXPECT_THAT(send.modifiers[0].params, ElementsAre("10/m"));
  ASSERT_EQ(send.actions.size(), 2u);
  EXPECT_EQ(send.actions[0].name, "_notify_room");
  EXPECT_THAT(
      send.actions[0].params,
      ElementsAre("new_message", R"({"user": "{$user.id}", "message": "{.payload.message}"})"));
  EXPECT_EQ(send.actions[1].name, "_log");
  EXPECT_THAT(send.actions[1].params,
              ElementsAre("User {$user.id} sent message to room {$target.id}"));
}

TEST(ConfigLoader, GoDispatchKeysSetTheirDispatchKeys) {
  const LoadResult result = load(R"(
server:
  auth:
    jwtSecret: godispatch-style-secret-godispatch-style
  connectionLimit:
    maxPerUser: 4
    mode: reject
transport:
  readTimeout: 45s
)");
  ASSERT_THAT(error_lines(result), IsEmpty());
  EXPECT_EQ(result.config->auth.jwt.secret, "godispatch-style-secret-godispatch-style");
  EXPECT_EQ(result.config->auth.jwt.mark, (SourceMark{"test.yaml", 3, 16}));
  EXPECT_EQ(result.config->auth.connection_limit.max_per_user, 4u);
  EXPECT_EQ(result.config->server.read_timeout, 45s);
}

TEST(ConfigLoader, AKeyAndItsGoDispatchNameTogetherAreAnError) {
  const LoadResult result = load(R"(
server:
  read_timeout: 10s
  auth:
    jwtSecret: one-secret-one-secret-one-secret-1
auth:
  jwt:
    secret: other-secret-other-secret-other-sec
transport:
  readTimeout: 20s
)");
  EXPECT_THAT(error_lines(result),
              ElementsAre("test.yaml:7:5: `auth.jwt.secret` sets the same thing as "
                          "`server.auth.jwtSecret` (line 4); keep one",
                          "test.yaml:9:3: `transport.readTimeout` sets the same thing as "
                          "`server.read_timeout` (line 2); keep one"));
}

// --- the JWT secret and its environment fallbacks ------------------------------------------

TEST(ConfigLoader, SecretComesFromTheEnvironmentWhenTheConfigHasNone) {
  const std::string dispatch_secret = "dispatch-secret-dispatch-secret-12";
  const std::string godispatch_secret = "godispatch-secret-godispatch-secret";
  {
    const Environment both({{"DISPATCH_JWT_SECRET", dispatch_secret},
                            {"GODISPATCH_SERVER_AUTH_JWTSECRET", godispatch_secret}},
                           false);
    const LoadResult result = load_config_text("", "test.yaml", both);
    ASSERT_TRUE(result.config);
    EXPECT_EQ(result.config->auth.jwt.secret, dispatch_secret);  // DISPATCH_ wins
    EXPECT_EQ(result.config->auth.jwt.mark, (SourceMark{"test.yaml", 0, 0}));
  }
  {
    const Environment godispatch_only({{"GODISPATCH_SERVER_AUTH_JWTSECRET", godispatch_secret}},
                                      false);
    const LoadResult result = load_config_text("", "test.yaml", godispatch_only);
    ASSERT_TRUE(result.config);
    EXPECT_EQ(result.config->auth.jwt.secret, godispatch_secret);
  }
  {
    // A secret key without a value counts as not set.
    const Environment dispatch_only({{"DISPATCH_JWT_SECRET", dispatch_secret}}, false);
    const LoadResult result = load("auth:\n  jwt:\n    secret:\n", dispatch_only);
    ASSERT_THAT(error_lines(result), IsEmpty());
    EXPECT_EQ(result.config->auth.jwt.secret, dispatch_secret);
    EXPECT_EQ(result.config->auth.jwt.mark, (SourceMark{"test.yaml", 2, 3}));  // the section
  }
  {
    // A secret written in the config is used as written; the environment is not consulted.
    const LoadResult result = load("auth: {jwt: {secret: from-the-config-from-the-config-1234}}");
    ASSERT_TRUE(result.config);
    EXPECT_EQ(result.config->auth.jwt.secret, "from-the-config-from-the-config-1234");
  }
}

TEST(ConfigLoader, AnEmptySecretIsAnErrorThatSaysHowToSetIt) {
  const Environment nothing({}, false);
  const std::string how =
      "set the environment variable DISPATCH_JWT_SECRET (or put it in .env), or set "
      "`auth.jwt.secret`; or verify tokens with a public key (`auth.jwt.public_key_file`); or "
      "allow connections without a token with `auth.anonymous: true`";
  EXPECT_THAT(error_lines(load_config_text("", "test.yaml", nothing)),
              ElementsAre("test.yaml: no JWT secret: " + how));
  EXPECT_THAT(error_lines(load("auth:\n  jwt:\n    secret: \"\"\n", nothing)),
              ElementsAre("test.yaml:3:13: `auth.jwt.secret` is empty: " + how));
  EXPECT_THAT(error_lines(load("server:\n  auth:\n    jwtSecret: ''\n", nothing)),
              ElementsAre("test.yaml:3:16: `server.auth.jwtSecret` is empty: " + how));
  // An unset variable is reported once, not again as an empty secret.
  EXPECT_THAT(error_lines(load("auth:\n  jwt:\n    secret: ${MY_SECRET}\n", nothing)),
              ElementsAre("test.yaml:3:13: `auth.jwt.secret`: environment variable `MY_SECRET` "
                          "is not set (set it in the environment or in .env, or write "
                          "${MY_SECRET:-default})"));
  // Anonymous-only servers need no secret.
  const LoadResult anonymous = load("auth: {anonymous: true}", nothing);
  ASSERT_THAT(error_lines(anonymous), IsEmpty());
  EXPECT_EQ(anonymous.config->auth.jwt.secret, "");
}

TEST(ConfigLoader, SecretsNeverAppearInMessages) {
  const std::string secret = "s3cr3t-value-that-must-not-leak";
  const Environment environment({{"DISPATCH_JWT_SECRET", secret}, {"EVENT_SECRET", "evsecret"}},
                                false);
  const LoadResult result = load(R"(
server:
  auth:
    jwtSecret: ${DISPATCH_JWT_SECRET}
auth:
  jwt:
    secret: ${DISPATCH_JWT_SECRET}
  event_jwt:
    secret: ${EVENT_SECRET}
    leeway: ${EVENT_SECRET}
)",
                                 environment);
  EXPECT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.warnings.size(), 2u);  // both secrets are short
  for (const std::string& line : error_lines(result)) {
    EXPECT_EQ(line.find(secret), std::string::npos) << line;
  }
  for (const std::string& warning : warning_messages(result)) {
    EXPECT_EQ(warning.find(secret), std::string::npos) << warning;
    EXPECT_EQ(warning.find("evsecret"), std::string::npos) << warning;
  }
}

TEST(ConfigLoader, EventJwtIsAbsentUnlessItHasASecret) {
  EXPECT_FALSE(load("").config->auth.event_jwt);
  EXPECT_FALSE(load("auth: {event_jwt: {secret: ''}}").config->auth.event_jwt);

  const LoadResult unused = load("auth: {event_jwt: {issuer: x}}");
  ASSERT_TRUE(unused.config);
  EXPECT_FALSE(unused.config->auth.event_jwt);
  EXPECT_THAT(warning_messages(unused),
              ElementsAre("auth.event_jwt has settings but no secret, so they are unused (and "
                          "the `secure` modifier cannot be used: set auth.event_jwt.secret or "
                          "DISPATCH_EVENT_JWT_SECRET)"));
}

TEST(ConfigLoader, EventJwtSecretDefaultsToItsEnvironmentVariable) {
  const std::string event_secret = "event-secret-event-secret-event-se";
  const LoadResult result = load(R"(
auth:
  jwt:
    issuer: iss
    audience: aud
    leeway: 5s
    require_exp: true
)",
                                 test_environment({{"DISPATCH_EVENT_JWT_SECRET", event_secret}}));
  ASSERT_THAT(error_lines(result), IsEmpty());
  ASSERT_TRUE(result.config->auth.event_jwt);
  const JwtConfig& event_jwt = *result.config->auth.event_jwt;
  EXPECT_EQ(event_jwt.secret, event_secret);
  EXPECT_EQ(event_jwt.issuer, "iss");
  EXPECT_EQ(event_jwt.audience, "aud");
  EXPECT_EQ(event_jwt.leeway, 5s);
  EXPECT_TRUE(event_jwt.require_exp);
}

TEST(ConfigLoader, EventJwtKeysOverrideTheSessionValues) {
  const LoadResult result = load(R"(
auth:
  jwt:
    issuer: iss
    audience: aud
    leeway: 5s
  event_jwt:
    secret: event-config-secret-event-config-se
    audience: events
    require_exp: true
)");
  ASSERT_THAT(error_lines(result), IsEmpty());
  const JwtConfig& event_jwt = *result.config->auth.event_jwt;
  EXPECT_EQ(event_jwt.secret, "event-config-secret-event-config-se");
  EXPECT_EQ(event_jwt.mark, (SourceMark{"test.yaml", 7, 13}));
  EXPECT_EQ(event_jwt.issuer, "iss");
  EXPECT_EQ(event_jwt.audience, "events");
  EXPECT_EQ(event_jwt.leeway, 5s);
  EXPECT_TRUE(event_jwt.require_exp);
  EXPECT_EQ(result.config->auth.jwt.audience, "aud");  // the session settings are untouched
  EXPECT_FALSE(result.config->auth.jwt.require_exp);
}

// --- ${VAR} substitution -------------------------------------------------------------------

TEST(ConfigLoader, VariablesAreSubstitutedInAnyScalarAfterParsing) {
  const LoadResult result = load(R"(
server:
  address: "${HOST}:${PORT}"
  path: ${WS_PATH:-/default}
  max_connections: ${MAX_CONNECTIONS}
  allowed_origins: ["${ORIGIN}"]
auth:
  jwt:
    issuer: ${ISSUER}
    audience: "${EMPTY:-fallback}"
events:
  chat:
    actions:
      - name: _notify_room
        params: ["${EVENT_OUT}", 'cost: $5, $$, ${NOT_SET:-none}']
        scope: ${SCOPE}
)",
                                 test_environment({{"HOST", "127.0.0.1"},
                                                   {"PORT", "7000"},
                                                   {"MAX_CONNECTIONS", "12"},
                                                   {"ORIGIN", "https://app.example"},
                                                   {"ISSUER", "a: b # not a comment"},
                                                   {"EMPTY", ""},
                                                   {"EVENT_OUT", "message"},
                                                   {"SCOPE", "node"}}));
  ASSERT_THAT(error_lines(result), IsEmpty());
  const Config& config = *result.config;
  EXPECT_EQ(config.server.host, "127.0.0.1");
  EXPECT_EQ(config.server.port, 7000);
  EXPECT_EQ(config.server.path, "/default");
  EXPECT_EQ(config.server.max_connections, 12u);
  EXPECT_THAT(config.server.allowed_origins, ElementsAre("https://app.example"));
  EXPECT_EQ(config.auth.jwt.issuer, "a: b # not a comment");  // YAML syntax in a value is text
  EXPECT_EQ(config.auth.jwt.audience, "fallback");            // set but empty: the default
  const StepSpec& step = config.events.at(0).actions.at(0);
  EXPECT_THAT(step.params, ElementsAre("message", "cost: $5, $$, none"));
  EXPECT_EQ(step.options.at("scope"), "node");
}

TEST(ConfigLoader, UnsetVariablesAreErrorsNamingTheVariableAtItsValue) {
  const LoadResult result = load(R"(
server:
  path: /ws
  max_connections: ${MAX_CONNECTIONS}
events:
  chat:
    actions:
      - name: _log
        params: [ok, "x ${WHO} y"]
)");
  EXPECT_THAT(error_lines(result),
              ElementsAre("test.yaml:3:20: `server.max_connections`: environment variable "
                          "`MAX_CONNECTIONS` is not set (set it in the environment or in .env, "
                          "or write ${MAX_CONNECTIONS:-default})",
                          "test.yaml:8:22: `events.chat.actions[0].params[1]`: environment "
                          "variable `WHO` is not set (set it in the environment or in .env, or "
                          "write ${WHO:-default})"));
}

TEST(ConfigLoader, SubstitutedValuesAreCheckedLikeWrittenOnes) {
  EXPECT_THAT(error_lines(load("server:\n  ping_interval: ${PING}\n",
                               test_environment({{"PING", "soon"}}))),
              ElementsAre("test.yaml:2:18: `server.ping_interval`: expected a duration like "
                          "250ms, 30s, 5m or 1h, got `soon`"));
}

TEST(ConfigLoader, TheRealEnvironmentBeatsTheEnvFile) {
  ASSERT_EQ(setenv("DISPATCH_CONFIG_TEST_ISSUER", "from-process", 1), 0);
  const Environment environment({{"DISPATCH_CONFIG_TEST_ISSUER", "from-dotenv"},
                                 {"DISPATCH_CONFIG_TEST_AUDIENCE", "dotenv-only"},
                                 {"DISPATCH_JWT_SECRET", kTestSecret}},
                                true);
  const LoadResult result = load(R"(
auth:
  jwt:
    issuer: ${DISPATCH_CONFIG_TEST_ISSUER}
    audience: ${DISPATCH_CONFIG_TEST_AUDIENCE}
)",
                                 environment);
  unsetenv("DISPATCH_CONFIG_TEST_ISSUER");
  ASSERT_THAT(error_lines(result), IsEmpty());
  EXPECT_EQ(result.config->auth.jwt.issuer, "from-process");
  EXPECT_EQ(result.config->auth.jwt.audience, "dotenv-only");
}

// --- unknown, duplicate and ill-typed keys -------------------------------------------------

TEST(ConfigLoader, UnknownKeysAreErrorsWithAHintWhenOneIsClose) {
  EXPECT_THAT(error_lines(load(R"(
server:
  max_mesage_size: 1MiB
  maxHeaderSize: 8KiB
  jwt: {}
  colour: blue
sever: {}
event: {}
)")),
              ElementsAre("test.yaml:2:3: unknown key `server.max_mesage_size` (did you mean "
                          "`max_message_size`?)",
                          "test.yaml:3:3: unknown key `server.maxHeaderSize` (did you mean "
                          "`max_header_size`?)",
                          "test.yaml:4:3: unknown key `server.jwt` (did you mean `auth.jwt`?)",
                          "test.yaml:5:3: unknown key `server.colour`",
                          "test.yaml:6:1: unknown key `sever` (did you mean `server`?)",
                          "test.yaml:7:1: unknown key `event` (did you mean `events`?)"));
}

TEST(ConfigLoader, DuplicateKeysAreErrorsAtTheSecondOccurrence) {
  EXPECT_THAT(error_lines(load(R"(
server:
  path: /a
  ping_interval: 5s
  path: /b
log: {level: info}
server:
  port: 1
)")),
              ElementsAre("test.yaml:4:3: duplicate key `server.path` (first set on line 2)",
                          "test.yaml:6:1: duplicate key `server` (first set on line 1)"));
}

TEST(ConfigLoader, WrongTypesAreErrorsNamingTheKeyAndTheExpectation) {
  const LoadResult result = load(R"(
server:
  path: [a]
  allowed_origins: "*"
  max_message_size: 64KB
  ping_interval: 30
  max_connections: -1
  max_rooms_per_connection: 4294967296
  error_budget: often
  send_queue_limit: lots
auth:
  anonymous: yes
  jwt: secret
permissions: [a, [b], ""]
log: debug
)");
  EXPECT_THAT(
      error_lines(result),
      ElementsAre(
          "test.yaml:2:9: `server.path`: expected a string, got a list",
          "test.yaml:3:20: `server.allowed_origins`: expected a list like [\"a\", \"b\"], got a "
          "single value",
          "test.yaml:4:21: `server.max_message_size`: expected a size like 65536, 64KiB, 1MiB or "
          "1GiB, got `64KB` (did you mean `64KiB`?)",
          "test.yaml:5:18: `server.ping_interval`: expected a duration like 250ms, 30s, 5m or "
          "1h, got `30` (a number needs a unit)",
          "test.yaml:6:20: `server.max_connections`: expected a whole number from 0 to "
          "18446744073709551615, got `-1`",
          "test.yaml:7:29: `server.max_rooms_per_connection`: expected a whole number from 0 to "
          "4294967295, got `4294967296`",
          "test.yaml:8:17: `server.error_budget`: expected a rate like 10/s, 10/m or 10/10s, got "
          "`often`",
          "test.yaml:9:21: `server.send_queue_limit`: expected a size like 65536, 64KiB, 1MiB or "
          "1GiB, got `lots`",
          "test.yaml:11:14: `auth.anonymous`: expected true or false, got `yes`",
          "test.yaml:12:8: `auth.jwt`: expected a mapping, got a single value",
          "test.yaml:13:18: `permissions[1]`: expected a string, got a list",
          "test.yaml:14:6: `log`: expected a mapping, got a single value"));
  EXPECT_THAT(error_lines(load("permissions: [a, \"\"]")),
              ElementsAre("test.yaml:1:18: `permissions[1]` must not be empty"));
}

TEST(ConfigLoader, TheTopLevelMustBeAMappingOfSections) {
  EXPECT_THAT(error_lines(load("- server\n- events\n")),
              ElementsAre("test.yaml:1:1: the config must be a mapping of sections such as "
                          "`server:` and `events:`, got a list"));
  EXPECT_THAT(error_lines(load("[a]: 1\n")),
              ElementsAre("test.yaml:1:1: keys must be plain names, got a list"));
}

// A YAML syntax error is reported where the fix goes (often the line before the one where the
// parser gave up) and says what is likely missing, not the parser's own words.
TEST(ConfigLoader, InvalidYamlSaysWhatIsLikelyMissingWhereItIsMissing) {
  EXPECT_THAT(error_lines(load("server:\n  allowed_origins: [a, b\nlog: {}\n")),
              ElementsAre("test.yaml:2:20: invalid YAML: the `[` opened here has no closing `]`"));
  EXPECT_THAT(error_lines(load("events:\n  e:\n    actions:\n      - {name: _reply, params: [a, "
                               "b]\n  f: 2\n")),
              ElementsAre("test.yaml:4:9: invalid YAML: the `{` opened here has no closing `}`"));
  EXPECT_THAT(error_lines(load("server:\n  path: a: b\n")),
              ElementsAre("test.yaml:2:10: invalid YAML: a second `: ` in one line: a value that "
                          "holds `: ` must be quoted (\"a: b\")"));
  EXPECT_THAT(error_lines(load("events:\n  e:\n    actions\n      - name: _reply\n")),
              ElementsAre("test.yaml:3:12: invalid YAML: `actions` has no `:` after its key: "
                          "write `key: value`, or `key:` with what it holds indented below"));
  EXPECT_THAT(error_lines(load("server:\n  path \"/ws\"  # the path\n\n  max_connections: 3\n")),
              ElementsAre(::testing::StartsWith(
                  "test.yaml:2:13: invalid YAML: `path \"/ws\"` has no `:` after its key")));
  EXPECT_THAT(error_lines(load("server:\n  path: /ws\n    max_connections: 3\n")),
              ElementsAre(::testing::StartsWith(
                  "test.yaml:3:5: invalid YAML: this line is indented under `path: /ws`, which "
                  "already has a value")));
  EXPECT_THAT(error_lines(load("server:\n\tpath: /ws\n")),
              ElementsAre("test.yaml:2:1: invalid YAML: a tab in the indentation: YAML indents "
                          "with spaces only"));
  EXPECT_THAT(
      error_lines(load("events:\n  e:\n    actions:\n      - name: _reply\n        params: [r, "
                       "'{\"a\": 1}]\n  f: 2\n")),
      ElementsAre(::testing::StartsWith(
          "test.yaml:5:21: invalid YAML: the quote ' opened here is never closed")));
  EXPECT_THAT(error_lines(load("server:\n  path: /ws\n max_connections: 3\n")),
              ElementsAre(::testing::StartsWith(
                  "test.yaml:3:2: invalid YAML: this line is indented to column 2, unlike the "
                  "lines it belongs with")));
}

TEST(ConfigLoader, InvalidYamlIsAnErrorAtTheParsersPosition) {
  EXPECT_THAT(error_lines(load("server: {}\n---\nlog: {}\n")),
              ElementsAre("test.yaml:3:1: the config must be a single YAML document (found a "
                          "second `---`)"));
}

// --- what a config needs to run ------------------------------------------------------------

// The forms an "empty" config takes all load (they are well-formed) but none can run: with no
// events every message would be unknown_event, so `check`, `serve` and SIGHUP refuse them.
TEST(ConfigLoader, AConfigWithoutEventsCannotRun) {
  for (const char* text : {"", "# comment\n", "---\n", "null\n", "{}\n", "events: {}\n",
                           "events:\n", "server: {path: /ws}\n"}) {
    const LoadResult result = load(text);
    ASSERT_TRUE(result.config) << text;
    std::vector<ConfigError> errors;
    check_runnable(*result.config, errors);
    // Field by field: GCC 12 at -O3 warns (maybe-uninitialized) on braced ConfigErrors.
    ASSERT_EQ(errors.size(), 1u) << text;
    EXPECT_EQ(errors[0].mark, (SourceMark{"test.yaml", 0, 0})) << text;
    EXPECT_EQ(errors[0].message,
              "the config declares no events, so every message would be refused: add an "
              "`events:` section with at least one event (see docs/CONFIG.md)")
        << text;
  }
  const LoadResult one_event =
      load("events: {ping: {actions: [{name: _reply, params: [p, '{}']}]}}");
  ASSERT_TRUE(one_event.config);
  std::vector<ConfigError> errors;
  check_runnable(*one_event.config, errors);
  EXPECT_THAT(errors, IsEmpty());
}

// A static_dir that is missing (or a file) would 404 every page: `check` and `serve` refuse it at
// its value, naming the path.
TEST(ConfigLoader, AStaticDirThatIsNotADirectoryIsAnError) {
  const std::filesystem::path missing = std::filesystem::temp_directory_path() /
                                        ("dispatch_no_such_dir_" + std::to_string(::getpid()));
  for (const std::string& dir : {missing.string(), std::string("/dev/null")}) {
    const LoadResult result = load(R"(
server:
  static_dir: ")" + dir + R"("
events: {ping: {actions: [{name: _reply, params: [p, '{}']}]}}
)");
    ASSERT_TRUE(result.config) << dir;
    std::vector<ConfigError> errors;
    check_runnable(*result.config, errors);
    ASSERT_EQ(errors.size(), 1u) << dir;
    EXPECT_EQ(errors[0].mark, (SourceMark{"test.yaml", 2, 15}));
    EXPECT_THAT(errors[0].message, ::testing::StartsWith("server.static_dir `" + dir + "` "));
  }
  const LoadResult relative = load(R"(
server: {static_dir: no_such_dir_here}
events: {ping: {actions: [{name: _reply, params: [p, '{}']}]}}
)");
  ASSERT_TRUE(relative.config);
  std::vector<ConfigError> errors;
  check_runnable(*relative.config, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].message, ::testing::HasSubstr("working directory"));
  const LoadResult existing = load(R"(
server: {static_dir: /}
events: {ping: {actions: [{name: _reply, params: [p, '{}']}]}}
)");
  ASSERT_TRUE(existing.config);
  errors.clear();
  check_runnable(*existing.config, errors);
  EXPECT_THAT(errors, IsEmpty());
}

// A config path that is a directory or a FIFO is an error at once: never read as empty, and
// never a start (or a SIGHUP) blocked on a pipe nobody writes to.
TEST(ConfigLoader, AConfigPathThatIsNotARegularFileIsAnError) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("dispatch_loader_test_" + std::to_string(::getpid()));
  std::filesystem::create_directory(path);
  EXPECT_THAT(
      error_lines(load_config_file(path.string(), test_environment())),
      ElementsAre(path.string() + ": cannot read the config file: it is a directory, not a file"));
  std::filesystem::remove(path);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  EXPECT_THAT(
      error_lines(load_config_file(path.string(), test_environment())),
      ElementsAre(path.string() + ": cannot read the config file: it is a FIFO (named pipe), not a "
                                  "regular file"));
  std::filesystem::remove(path);
  EXPECT_THAT(error_lines(load_config_file(path.string(), test_environment())),
              ElementsAre(path.string() + ": cannot read the config file: No such file or "
                                          "directory"));
}

// With equal secrets a session token is a valid event token: `secure` would check nothing.
TEST(ConfigLoader, TheEventSecretMustDifferFromTheSessionSecret) {
  const std::string message =
      "the event JWT secret (auth.event_jwt.secret or DISPATCH_EVENT_JWT_SECRET) equals the "
      "session secret (auth.jwt.secret), so any session token would pass the `secure` modifier "
      "as an event token: use a different secret";
  EXPECT_THAT(error_lines(load("auth:\n  event_jwt:\n    secret: " + kTestSecret + "\n")),
              ElementsAre("test.yaml:3:13: " + message));
  EXPECT_THAT(error_lines(load("", test_environment({{"DISPATCH_EVENT_JWT_SECRET", kTestSecret}}))),
              ElementsAre("test.yaml: " + message));
  EXPECT_THAT(error_lines(load("auth:\n  event_jwt:\n    secret: " + kTestSecret + "-other\n")),
              IsEmpty());
}

// --- keys this version does not implement yet ----------------------------------------------

TEST(ConfigLoader, KeysNotImplementedYetAreErrorsWhenSetToSomething) {
  const LoadResult result = load(R"(
server:
  trusted_proxies: [10.0.0.0/8]  # implemented: no error
  admin_address: "127.0.0.1:9090"  # implemented: no error
  tls: {cert: cert.pem, key: ""}
  static_dir: ./public  # implemented: no error
auth:
  max_connections_per_ip: 10  # implemented: no error
rooms:
  "chat:*": {max_members: 8, presence: true, history: {size: 50, ttl: 5m}}  # implemented
events:
  send:
    schema: {type: object}  # implemented: no error
cluster:
  redis: redis://127.0.0.1:6379  # implemented: no error
api:
  key: abc  # implemented: no error (a warning: too short)
webhooks:
  backend: {url: "http://127.0.0.1:9000/dispatch"}
hooks:
  on_connect: [{name: _log, params: [hi]}]  # implemented: no error
)");
  EXPECT_THAT(
      error_lines(result),
      ElementsAre("test.yaml:4:3: `server.tls` is not supported yet by this version of dispatch"));
}

TEST(ConfigLoader, TrustedProxiesAreCheckedRangeByRange) {
  EXPECT_THAT(error_lines(load("server:\n  trusted_proxies: [10.0.0.0/8, \"2001:db8::/32\", "
                               "192.0.2.7]\n")),
              IsEmpty());
  EXPECT_THAT(
      error_lines(load("server:\n  trusted_proxies: [10.0.0.0/8, 10.0.0.1/8]\n")),
      ElementsAre("test.yaml:2:33: `server.trusted_proxies[1]`: the address has bits set past "
                  "its /8 prefix, got `10.0.0.1/8` (did you mean 10.0.0.0/8?)"));
  EXPECT_THAT(error_lines(load("server:\n  trusted_proxies: [proxy.local]\n")),
              ElementsAre("test.yaml:2:21: `server.trusted_proxies[0]`: expected an address or "
                          "a CIDR range like \"10.0.0.0/8\" or \"2001:db8::/32\", got "
                          "`proxy.local`"));
}

TEST(ConfigLoader, KeysNotImplementedYetAreAcceptedAtTheirDefaults) {
  const LoadResult result = load(R"(
server:
  trusted_proxies: []
  admin_address: ""
  tls: { cert: "", key: "" }
  static_dir: ""
auth:
  jwt:
    public_key_file: ""
  max_connections_per_ip: 0
rooms:
events:
  send:
    schema:
    actions: []
cluster:
api:
  key: ${DISPATCH_API_KEY:-}
webhooks: {}
hooks:
  on_connect: []
  on_disconnect: []
  on_join: []
  on_leave: []
)");
  EXPECT_THAT(error_lines(result), IsEmpty());
}

// --- sanity checks -------------------------------------------------------------------------

TEST(ConfigLoader, ValuesThatCannotWorkAreErrors) {
  EXPECT_THAT(error_lines(load(R"(
server:
  path: ws
  max_message_size: 1023
  ping_interval: 0
  max_header_size: 512B
  error_budget: 0/10s
)")),
              ElementsAre("test.yaml:2:9: `server.path` must start with `/`",
                          "test.yaml:3:21: `server.max_message_size` must be at least 1KiB",
                          "test.yaml:4:18: `server.ping_interval` must be longer than 0",
                          "test.yaml:5:20: `server.max_header_size` must be at least 1KiB",
                          "test.yaml:6:17: `server.error_budget` must allow at least 1 error "
                          "per window"));
  const LoadResult smallest = load("server: {max_message_size: 1KiB, max_header_size: 1024}");
  ASSERT_THAT(error_lines(smallest), IsEmpty());
  EXPECT_EQ(smallest.config->server.max_message_size, 1024u);
}

// --- reporting -----------------------------------------------------------------------------

TEST(ConfigLoader, EveryErrorIsReportedInOneRun) {
  const LoadResult result = load(R"(
server:
  address: nowhere
  pong_timeout: forever
  colour: blue
auth:
  anonymous: maybe
events:
  chat:
    actions:
      - params: [x]
cluster:
  redis: [redis://x, "http://y"]
)",
                                 Environment({}, false));
  EXPECT_FALSE(result.config);
  EXPECT_EQ(result.errors.size(), 7u);
  EXPECT_THAT(
      error_lines(result),
      ElementsAre("test.yaml:2:12: `server.address`: expected host:port like \":8080\", "
                  "\"127.0.0.1:8080\" or \"[::1]:8080\", got `nowhere` (missing `:port`)",
                  "test.yaml:3:17: `server.pong_timeout`: expected a duration like 250ms, 30s, "
                  "5m or 1h, got `forever`",
                  "test.yaml:4:3: unknown key `server.colour`",
                  "test.yaml:6:14: `auth.anonymous`: expected true or false, got `maybe`",
                  "test.yaml:10:9: `events.chat.actions[0]`: a step needs a `name`",
                  "test.yaml:12:22: `cluster.redis[1]`: the scheme must be redis://",
                  "test.yaml: no JWT secret: set the environment variable DISPATCH_JWT_SECRET (or "
                  "put it in .env), or set `auth.jwt.secret`; or verify tokens with a public key "
                  "(`auth.jwt.public_key_file`); or allow connections without a token with "
                  "`auth.anonymous: true`"));
}

TEST(ConfigLoader, FormatErrorWritesFileLineColumn) {
  // Filled in field by field: GCC 12 at -O3 warns (maybe-uninitialized) on braced ConfigErrors.
  auto error_at = [](int line, int column) {
    ConfigError error;
    error.mark.file = "config.yaml";
    error.mark.line = line;
    error.mark.column = column;
    error.message = "boom";
    return error;
  };
  const ConfigError positioned = error_at(3, 14);
  const ConfigError unpositioned = error_at(0, 0);
  EXPECT_EQ(format_error(positioned), "config.yaml:3:14: boom");
  EXPECT_EQ(format_error(unpositioned), "config.yaml: boom");
}

TEST(ConfigLoader, FilesAreReadFromDisk) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "dispatch_config_loader_test.yaml";
  {
    std::ofstream file(path);
    file << "server:\n  path: /from-disk\n  bogus: 1\n";
  }
  const LoadResult result = load_config_file(path.string(), test_environment());
  std::filesystem::remove(path);
  EXPECT_THAT(error_lines(result), ElementsAre(path.string() + ":3:3: unknown key `server.bogus`"));

  const LoadResult missing = load_config_file("/nonexistent/dispatch.yaml", test_environment());
  EXPECT_FALSE(missing.config);
  EXPECT_THAT(error_lines(missing), ElementsAre("/nonexistent/dispatch.yaml: cannot read the "
                                                "config file: No such file or directory"));
}

// A NUL byte is refused before YAML parsing, at its position (found by fuzz/config_fuzz.cpp,
// together with the hang below).
TEST(ConfigLoader, ANulByteIsAnErrorAtItsPositionNotAHang) {
  EXPECT_THAT(error_lines(load(std::string("\0,\0", 3))),
              ElementsAre("test.yaml:1:1: the config contains a NUL byte, which YAML does not "
                          "allow (is it a text file?)"));
  EXPECT_THAT(error_lines(load(std::string("events:\n  e: {}\n  f: x\0\n", 24))),
              ElementsAre("test.yaml:3:7: the config contains a NUL byte, which YAML does not "
                          "allow (is it a text file?)"));
}

// Found by fuzz/config_fuzz.cpp: yaml-cpp 0.7 never returns when a `,` stands outside brackets
// before or after a document's top-level node (`dispatch check` hung, allocating until memory
// ran out). It is an error at the comma.
TEST(ConfigLoader, ACommaOutsideBracketsIsAnErrorAtItNotAHang) {
  const std::string message =
      ": invalid YAML: a `,` outside brackets [ ] or { } (quote the text if it is part of it)";
  EXPECT_THAT(error_lines(load(",")), ElementsAre("test.yaml:1:1" + message));
  EXPECT_THAT(error_lines(load("[a],")), ElementsAre("test.yaml:1:4" + message));
  EXPECT_THAT(error_lines(load("- a\n,\n")), ElementsAre("test.yaml:2:1" + message));
  // A comma inside text is fine.
  EXPECT_THAT(error_lines(load("events:\n  e:\n    actions:\n      - name: _log\n"
                               "        params: [\"a, b\"]\nlog: |\n  ,x\n")),
              ElementsAre(::testing::HasSubstr("`log`: expected a mapping")));
}

TEST(ConfigLoader, TheApiKeyComesFromTheFileElseFromDispatchApiKey) {
  const std::string key(40, 'k');
  const LoadResult from_file = load("api:\n  key: " + key + "\n");
  ASSERT_THAT(error_lines(from_file), IsEmpty());
  EXPECT_EQ(from_file.config->api.key, key);
  const LoadResult from_environment = load("", test_environment({{"DISPATCH_API_KEY", key}}));
  ASSERT_THAT(error_lines(from_environment), IsEmpty());
  EXPECT_EQ(from_environment.config->api.key, key);
  EXPECT_EQ(load("").config->api.key, "");  // the API is off
  // The file wins over the environment, and an empty key in the file turns the API off.
  EXPECT_EQ(
      load("api:\n  key: \"\"\n", test_environment({{"DISPATCH_API_KEY", key}})).config->api.key,
      "");
}

TEST(ConfigLoader, AShortApiKeyIsAWarningThatNeverShowsTheKey) {
  const LoadResult result = load("api:\n  key: short-key-123\n");
  ASSERT_THAT(error_lines(result), IsEmpty());
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(format_error(result.warnings[0]),
            "test.yaml:2:8: the API key is shorter than 32 bytes; use at least 32 random bytes");
}

TEST(ConfigLoader, TheAdminAddressIsParsedAndMustDifferFromTheMainOne) {
  const LoadResult set = load("server:\n  admin_address: \"127.0.0.1:9090\"\n");
  ASSERT_THAT(error_lines(set), IsEmpty());
  ASSERT_TRUE(set.config->server.admin_address);
  EXPECT_EQ(set.config->server.admin_address->host, "127.0.0.1");
  EXPECT_EQ(set.config->server.admin_address->port, 9090);
  EXPECT_FALSE(load("server:\n  admin_address: \"\"\n").config->server.admin_address);
  EXPECT_FALSE(load("").config->server.admin_address);
  EXPECT_THAT(error_lines(load("server:\n  admin_address: \"nope\"\n")),
              ElementsAre(::testing::HasSubstr("test.yaml:2:18: `server.admin_address`")));
  EXPECT_THAT(error_lines(load("server:\n  address: \"127.0.0.1:9090\"\n  admin_address: "
                               "\"127.0.0.1:9090\"\n")),
              ElementsAre("test.yaml:3:18: server.admin_address is server.address: give the admin "
                          "listener another port, or remove it to serve /metrics and /api on the "
                          "WebSocket port"));
}

TEST(ConfigLoader, RoomPoliciesDeclarePresenceAndHistory) {
  const LoadResult result = load(R"(
rooms:
  "chat:*": {presence: true, history: {size: 100, ttl: 30s}}
  "news:*": {history: {size: 5}}
  "*": {}
events:
  send: {actions: []}
)");
  ASSERT_TRUE(result.config) << testing::PrintToString(error_lines(result));
  const auto& rooms = result.config->rooms;
  ASSERT_EQ(rooms.size(), 3u);
  EXPECT_TRUE(rooms[0].presence);
  EXPECT_EQ(rooms[0].history_size, 100u);
  EXPECT_EQ(rooms[0].history_ttl, std::chrono::seconds(30));
  EXPECT_FALSE(rooms[1].presence);
  EXPECT_EQ(rooms[1].history_size, 5u);
  EXPECT_EQ(rooms[1].history_ttl, std::chrono::minutes(10));  // the default
  EXPECT_EQ(rooms[2].history_size, 0u);                       // no history
}

TEST(ConfigLoader, BadHistorySettingsAreErrorsAtTheirPlace) {
  EXPECT_THAT(error_lines(load("rooms:\n  \"a:*\": {history: {size: 100001}}\nevents:\n  e: {}\n")),
              ElementsAre("test.yaml:2:27: `rooms.a:*.history.size` must be at most 100000 (each "
                          "room keeps that many messages in memory or Redis)"));
  EXPECT_THAT(
      error_lines(load("rooms:\n  \"a:*\": {history: {size: 5, ttl: 0s}}\nevents:\n  e: {}\n")),
      ElementsAre(testing::HasSubstr("`rooms.a:*.history.ttl` must be")));
  EXPECT_THAT(error_lines(load("rooms:\n  \"a:*\": {history: {sise: 5}}\nevents:\n  e: {}\n")),
              ElementsAre(testing::HasSubstr("did you mean `size`")));
  EXPECT_THAT(error_lines(load("rooms:\n  \"a:*\": {presence: yes-please}\nevents:\n  e: {}\n")),
              ElementsAre(testing::HasSubstr("`rooms.a:*.presence`")));
}

TEST(ConfigLoader, RefreshIsAReservedEventName) {
  EXPECT_THAT(error_lines(load("events:\n  _refresh: {actions: []}\n")),
              ElementsAre("test.yaml:2:3: `_refresh` is reserved: clients send it to replace "
                          "their session token (docs/PROTOCOL.md); give the event another name"));
}

// `cluster.redis: ${REDIS_URL:-}`: one config for a single node and for cluster mode, chosen by
// the environment (examples/chat does this). An empty URL is a single node; a list item may not be.
TEST(ConfigLoader, AnEmptyRedisUrlMeansASingleNode) {
  const std::string yaml = "cluster:\n  redis: ${REDIS_URL:-}\n";
  const LoadResult single = load(yaml);
  ASSERT_TRUE(single.config) << ::testing::PrintToString(error_lines(single));
  EXPECT_TRUE(single.config->cluster.redis.empty());

  const LoadResult clustered =
      load(yaml, test_environment({{"REDIS_URL", "redis://127.0.0.1:6390"}}));
  ASSERT_TRUE(clustered.config) << ::testing::PrintToString(error_lines(clustered));
  ASSERT_EQ(clustered.config->cluster.redis.size(), 1u);
  EXPECT_EQ(clustered.config->cluster.redis[0].port, 6390);

  EXPECT_THAT(error_lines(load("cluster:\n  redis: [\"\"]\n")),
              ElementsAre(::testing::HasSubstr("`cluster.redis[0]`")));
}

}  // namespace
}  // namespace dispatch::config
