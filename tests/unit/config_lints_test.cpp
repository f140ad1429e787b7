// The `dispatch check` lints (config/lints.h): each one fires at the file:line:col of what is at
// fault, says how to silence it, stays quiet for the guarded forms, and `lint_ignore:` silences
// it where the warning says.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/default_config.h"
#include "config/lints.h"
#include "config_test_support.h"
#include "test_paths.h"

namespace dispatch::config {
namespace {

using test_support::error_lines;
using test_support::kTestSecret;
using test_support::load;
using test_support::test_environment;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const std::string kEventSecret = "event-secret-event-secret-event-secret";

// The lint lines of `text` ("file:line:col: message"); the config must load.
std::vector<std::string> lint_lines(std::string_view text) {
  const LoadResult result = load(text, test_environment({{"EVENT_SECRET", kEventSecret}}));
  EXPECT_THAT(error_lines(result), IsEmpty()) << text;
  if (!result.config) return {"(did not load)"};
  std::vector<std::string> lines;
  for (const ConfigError& warning : lint_config(*result.config)) {
    lines.push_back(format_error(warning));
  }
  return lines;
}

TEST(ConfigLints, RoomSendWithoutMembershipCheckIsReportedAtTheStep) {
  const auto lines = lint_lines(R"(
events:
  send:
    modifiers:
      - name: rate_limit
        params: ["10/m"]
    actions:
      - name: _notify_room
        params: ["message", '{"text": "{.payload.text}"}']
)");
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], HasSubstr("test.yaml:7:9: event `send` sends to its target room"));
  EXPECT_THAT(lines[0], HasSubstr("add the modifier `member_of`"));
  EXPECT_THAT(lines[0], HasSubstr("add `lint_ignore: [unguarded_room_send]` to the event `send`"));
}

TEST(ConfigLints, RoomSendGuardedByMemberOfAJoinOrMemberOnlyPoliciesIsQuiet) {
  EXPECT_THAT(lint_lines(R"(
events:
  send:
    modifiers:
      - name: member_of
    actions:
      - name: _notify_room
        params: ["message", '{}']
  send_checked:
    modifiers:
      - name: member_of
        params: ["{$target.id}"]
    actions:
      - name: _notify_room
        params: ["message", '{}']
  join:
    actions:
      - name: _join
        params: ["{$user.id}", "{$target.id}"]
      - name: _notify_room
        params: ["joined", '{}']
)"),
              IsEmpty());
  EXPECT_THAT(lint_lines(R"(
rooms:
  "game:*": {member_only_send: true, max_members: 4}
  "*": {member_only_send: true}
events:
  join:
    actions:
      - name: _join
        params: ["{$user.id}", "{$target.id}"]
  send:
    actions:
      - name: _notify_room
        params: ["message", '{}']
)"),
              IsEmpty());
}

TEST(ConfigLints, RoomSendIsUnguardedWhenSomeRoomsAreNotMemberOnly) {
  // A member_of on another room, a join of someone else, and policies that leave rooms open.
  const auto lines = lint_lines(R"(
rooms:
  "open:*": {max_members: 4}
  "*": {member_only_send: true}
events:
  send:
    modifiers:
      - name: member_of
        params: ["lobby"]
    actions:
      - name: _join
        params: ["{.payload.user}", "{$target.id}"]
      - name: _notify_room
        params: ["message", '{}']
)");
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], HasSubstr("test.yaml:12:9: event `send` sends to its target room"));
}

TEST(ConfigLints, BroadcastWithoutRateLimit) {
  const auto lines = lint_lines(R"(
events:
  announce:
    actions:
      - name: _log
        params: ["announcing"]
      - name: _broadcast
        params: ["news", '{}']
  limited:
    modifiers:
      - name: rate_limit
        params: ["1/s"]
    actions:
      - name: _broadcast
        params: ["news", '{}']
)");
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], HasSubstr("test.yaml:6:9: event `announce` sends to every connection"));
  EXPECT_THAT(lines[0], HasSubstr("add a `rate_limit` modifier"));
  EXPECT_THAT(lines[0], HasSubstr("`lint_ignore: [unlimited_broadcast]` to the event `announce`"));
}

TEST(ConfigLints, RoomPolicyThatNoJoinReaches) {
  const auto lines = lint_lines(R"(
rooms:
  "games:*": {max_members: 8}
  "game:?": {max_members: 2}
  "lobby": {max_members: 100}
events:
  join_game:
    actions:
      - name: _join
        params: ["{$user.id}", "game:{.payload.id}"]
  join_lobby:
    actions:
      - name: _join
        params: ["{$user.id}", "lobby"]
)");
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], HasSubstr("test.yaml:2:3: room policy `games:*` applies to no room: no "
                                  "event's `_join` makes a room id that matches it (the "
                                  "`_join`s make `game:{.payload.id}` in event `join_game`"));
  EXPECT_THAT(lines[0],
              HasSubstr("`lint_ignore: [unreachable_room_policy]` to the room policy `games:*`"));
}

TEST(ConfigLints, AJoinInTheOnConnectHookReachesARoomPolicy) {
  const auto lines = lint_lines(R"(
rooms:
  "lobby": {max_members: 100}
  "games:*": {max_members: 8}
events:
  say:
    actions:
      - name: _log
        params: ["{$user.id}"]
hooks:
  on_connect:
    - name: _join
      params: ["{$user.id}", "lobby"]
)");
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], HasSubstr("test.yaml:3:3: room policy `games:*` applies to no room: no "
                                  "event's `_join` makes a room id that matches it (the "
                                  "`_join`s make `lobby` in `hooks.on_connect`)"));
}

TEST(ConfigLints, RoomPolicyAfterACatchAllOrWithoutAnyJoin) {
  const auto shadowed = lint_lines(R"(
rooms:
  "*": {max_members: 8}
  "vip:*": {max_members: 2}
events:
  join:
    actions:
      - name: _join
        params: ["{$user.id}", "{$target.id}"]
)");
  ASSERT_THAT(shadowed, SizeIs(1));
  EXPECT_THAT(shadowed[0], HasSubstr("test.yaml:3:3: room policy `vip:*` never applies: the "
                                     "policy `*` (line 2) matches every room first"));

  const auto no_join = lint_lines(R"(
rooms:
  "game:*": {max_members: 8}
events:
  ping:
    actions:
      - name: _reply
        params: ["pong", '{}']
)");
  ASSERT_THAT(no_join, SizeIs(1));
  EXPECT_THAT(no_join[0], HasSubstr("test.yaml:2:3: room policy `game:*` applies to no room: no "
                                    "event has a `_join`"));
}

TEST(ConfigLints, LiteralBracesAndPlaceholdersInJoinRooms) {
  // `{{` is a literal brace; `?` in a glob is one character of whatever a placeholder makes.
  EXPECT_THAT(lint_lines(R"(
rooms:
  "{x}-?": {max_members: 2}
events:
  join:
    actions:
      - name: _join
        params: ["{$user.id}", "{{x}}-{.payload.n}"]
)"),
              IsEmpty());
  EXPECT_THAT(lint_lines(R"(
rooms:
  "x-?": {max_members: 2}
events:
  join:
    actions:
      - name: _join
        params: ["{$user.id}", "{{x}}-{.payload.n}"]
)"),
              SizeIs(1));
}

TEST(ConfigLints, SecureClaimChecksNoTokenPasses) {
  const auto lines = lint_lines(R"(
auth:
  event_jwt:
    secret: ${EVENT_SECRET}
    issuer: backend
events:
  kick:
    modifiers:
      - name: secure
        params: ["evt=ban", "perms=admin", "role=mod", "role=admin", "iss=other", "exp=soon"]
  fine:
    modifiers:
      - name: secure
        params: ["evt=fine", "perms=[\"a\"]", "role=mod", "iss=backend", "exp=1900000000", "sub=al"]
)");
  ASSERT_THAT(lines, SizeIs(5));
  EXPECT_THAT(lines[0], HasSubstr("test.yaml:9:18: event `kick`: the `secure` claim check "
                                  "`evt=ban` never passes: a token's `evt` must name the event"));
  EXPECT_THAT(lines[1], HasSubstr("test.yaml:9:29: event `kick`: the `secure` claim check "
                                  "`perms=admin` never passes: `perms` is a list"));
  EXPECT_THAT(lines[2], HasSubstr("test.yaml:9:56: event `kick`: the `secure` claim check "
                                  "`role=admin` never passes: the same step also checks "
                                  "`role=mod`"));
  EXPECT_THAT(lines[3], HasSubstr("`iss=other` never passes: event tokens must have `iss` "
                                  "`backend`"));
  EXPECT_THAT(lines[4], HasSubstr("`exp=soon` never passes"));
  EXPECT_THAT(lines[4], HasSubstr("`lint_ignore: [impossible_claim_check]` to the event `kick`"));
}

TEST(ConfigLints, LintIgnoreSilencesWhereTheWarningSays) {
  EXPECT_THAT(lint_lines(R"(
rooms:
  "games:*":
    max_members: 8
    lint_ignore: [unreachable_room_policy]
events:
  announce:
    lint_ignore: [unlimited_broadcast, unguarded_room_send]
    actions:
      - name: _broadcast
        params: ["news", '{}']
      - name: _notify_room
        params: ["news", '{}']
)"),
              IsEmpty());
  // Only the lints it names, only where it is.
  const auto lines = lint_lines(R"(
events:
  announce:
    lint_ignore: [unlimited_broadcast]
    actions:
      - name: _broadcast
        params: ["news", '{}']
      - name: _notify_room
        params: ["news", '{}']
  again:
    actions:
      - name: _broadcast
        params: ["news", '{}']
)");
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(lines[0], HasSubstr("[unguarded_room_send]"));
  EXPECT_THAT(lines[1], HasSubstr("event `again` sends to every connection"));
}

TEST(ConfigLints, LintIgnoreNamesMustBeLints) {
  const LoadResult result = load(R"(
events:
  e:
    lint_ignore: [unlimited_broadcast, unguarded_room_sends]
    actions:
      - name: _log
        params: ["x"]
)");
  EXPECT_THAT(error_lines(result),
              ElementsAre("test.yaml:3:40: `events.e.lint_ignore[1]`: no lint is called "
                          "`unguarded_room_sends` (did you mean `unguarded_room_send`?) (the "
                          "lints: unguarded_room_send, unlimited_broadcast, "
                          "unreachable_room_policy, impossible_claim_check)"));
}

TEST(ConfigLints, EveryLintIsCatalogued) {
  std::vector<std::string> names;
  for (const LintInfo& lint : lint_catalogue()) names.emplace_back(lint.name);
  EXPECT_THAT(names, ElementsAre("unguarded_room_send", "unlimited_broadcast",
                                 "unreachable_room_policy", "impossible_claim_check"));
  EXPECT_TRUE(is_lint_name("unlimited_broadcast"));
  EXPECT_FALSE(is_lint_name("unlimited"));
}

// The shipped configs: the embedded development config is a demo where anyone may post to any
// room, and says so with lint_ignore; GoDispatch's config must load unchanged, so its lints stay
// warnings (its leave_room and send_message post to rooms without a membership check).
TEST(ConfigLints, ShippedConfigs) {
  const LoadResult development =
      load_config_text(development_config, "<embedded>", test_environment());
  ASSERT_TRUE(development.config);
  EXPECT_THAT(lint_config(*development.config), IsEmpty());
  EXPECT_THAT(development.warnings, IsEmpty());

  const auto path = test_paths::repo_root() / "tests" / "compat" / "godispatch-config.yaml";
  const LoadResult compat = load_config_file(path.string(), test_environment());
  ASSERT_TRUE(compat.config);
  const std::vector<ConfigError> lints = lint_config(*compat.config);
  ASSERT_THAT(lints, SizeIs(2));
  EXPECT_THAT(lints[0].message, HasSubstr("event `leave_room` sends to its target room"));
  EXPECT_THAT(lints[1].message, HasSubstr("event `send_message` sends to its target room"));
}

// The loader's own warnings carry the position of the key that caused them.
TEST(ConfigWarnings, ShortSecretsAreReportedAtTheirKey) {
  const LoadResult result = load(R"(
auth:
  jwt:
    secret: short-secret
  event_jwt:
    secret: another-short-one
events:
  e:
    actions:
      - name: _log
        params: ["x"]
)");
  ASSERT_THAT(error_lines(result), IsEmpty());
  EXPECT_THAT(test_support::warning_lines(result),
              ElementsAre("test.yaml:3:13: the JWT secret is shorter than 32 bytes; use at least "
                          "32 random bytes",
                          "test.yaml:5:13: the event JWT secret is shorter than 32 bytes; use at "
                          "least 32 random bytes"));
  const LoadResult unused = load("auth:\n  event_jwt:\n    issuer: x\n");
  EXPECT_THAT(test_support::warning_lines(unused),
              ElementsAre(HasSubstr("test.yaml:2:3: auth.event_jwt has settings but no secret")));
}

// A short secret's warning says where the secret came from: the variable of a `${NAME}` in the
// file, or the environment variable when the file has no secret key (and so no position).
TEST(ConfigWarnings, ShortSecretsNameTheVariableTheyCameFrom) {
  const std::string events =
      "events:\n  e:\n    actions:\n      - name: _log\n        params: [x]\n";
  const LoadResult from_environment = load(
      events,
      Environment({{"DISPATCH_JWT_SECRET", "short"}, {"DISPATCH_EVENT_JWT_SECRET", "short-event"}},
                  false));
  ASSERT_THAT(error_lines(from_environment), IsEmpty());
  EXPECT_THAT(test_support::warning_lines(from_environment),
              ElementsAre("test.yaml: the JWT secret from DISPATCH_JWT_SECRET is shorter than 32 "
                          "bytes; use at least 32 random bytes",
                          "test.yaml: the event JWT secret from DISPATCH_EVENT_JWT_SECRET is "
                          "shorter than 32 bytes; use at least 32 random bytes"));
  const LoadResult godispatch =
      load(events, Environment({{"GODISPATCH_SERVER_AUTH_JWTSECRET", "short"}}, false));
  EXPECT_THAT(test_support::warning_lines(godispatch),
              ElementsAre(HasSubstr("the JWT secret from GODISPATCH_SERVER_AUTH_JWTSECRET is "
                                    "shorter")));
  const LoadResult from_file = load(
      "auth:\n  jwt:\n    secret: ${S}\n  event_jwt:\n"
      "    secret: x${E:-y}\n" +
          events,
      Environment({{"S", "short"}, {"E", "short-event"}}, false));
  ASSERT_THAT(error_lines(from_file), IsEmpty());
  EXPECT_THAT(test_support::warning_lines(from_file),
              ElementsAre("test.yaml:3:13: the JWT secret from ${S} is shorter than 32 bytes; use "
                          "at least 32 random bytes",
                          "test.yaml:5:13: the event JWT secret from ${E} is shorter than 32 "
                          "bytes; use at least 32 random bytes"));
}

}  // namespace
}  // namespace dispatch::config
