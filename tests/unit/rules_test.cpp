// The rules a config declares, run through the real pipeline without sockets (DetachedSessions):
// the `require_permission`, `member_of` and `match` modifiers, room policies (`rooms:`: glob
// matching, join_permission, max_members counted in distinct users across loops,
// member_only_send) and the `_disconnect` action. A refusal answers the sender with the error and
// delivers nothing to anyone.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>
#include <vector>

#include "compile_test_support.h"
#include "config/room_policy.h"
#include "config_test_support.h"
#include "loop_test_support.h"

namespace dispatch {
namespace {

using test_support::compile_config;
using test_support::DetachedSession;
using test_support::run_ready;

const std::string kConfig = R"(
auth:
  jwt:
    secret: "0123456789abcdef0123456789abcdef"
permissions: [kick_user, moderate]
rooms:
  "game:*": { max_members: 2 }
  "stage:*": { join_permission: moderate }
  "quiet:*": { member_only_send: true }
  "*": { max_members: 0 }
events:
  kick:
    modifiers:
      - {name: require_permission, params: [kick_user]}
    actions:
      - {name: _disconnect, params: ["{.payload.user}", "kicked by {$user.id}"]}
  join:
    actions:
      - {name: _join, params: ["{$user.id}", "{$target.id}"]}
  join_connection:
    actions:
      - {name: _join, params: ["{$user.id}", "{$target.id}", connection]}
  pull:
    actions:
      - {name: _join, params: ["{.payload.user}", "{$target.id}"]}
  leave:
    actions:
      - {name: _leave, params: ["{$user.id}", "{$target.id}"]}
  say:
    modifiers:
      - {name: member_of}
    actions:
      - {name: _notify_room, params: [said, '{"text": "{.payload.text}"}']}
  say_in:
    modifiers:
      - {name: member_of, params: ["room:{.payload.room}"]}
    actions:
      - {name: _reply, params: [ok, '{}']}
  shout:
    actions:
      - {name: _notify_room, params: [shouted, '{}']}
  rename:
    modifiers:
      - {name: match, params: ["{.payload.name}", "[a-z][a-z0-9_]{2,15}"]}
    actions:
      - {name: _broadcast, params: [renamed, '{"name": "{.payload.name}"}']}
)";

boost::json::value parse(const std::string& text) {
  return boost::json::parse(text);
}

std::vector<std::string> events_of(const std::vector<std::string>& texts) {
  std::vector<std::string> events;
  for (const std::string& text : texts) {
    events.emplace_back(parse(text).at("event").as_string());
  }
  return events;
}

// The one frame a session received must be this error code; returns its message.
std::string expect_error(DetachedSession& session, std::string_view code) {
  const std::vector<std::string> texts = session.take_texts();
  EXPECT_EQ(texts.size(), 1u);
  if (texts.size() != 1) return "";
  const boost::json::value frame = parse(texts[0]);
  EXPECT_EQ(frame.at("event").as_string(), "error");
  EXPECT_EQ(frame.at("payload").at("code").as_string(), code);
  return std::string(frame.at("payload").at("message").as_string());
}

class RulesTest : public ::testing::Test {
 protected:
  explicit RulesTest(unsigned loops = 1) : engine_(loops, compile_config(kConfig)) {}
  EventLoop& loop(unsigned index = 0) { return engine_.loop(index); }

  Engine engine_;
};

// ------------------------------------------------------------------ require_permission

TEST_F(RulesTest, RequirePermissionPassesWithThePermissionAndRefusesWithout) {
  DetachedSession admin(loop());
  DetachedSession eve(loop());
  DetachedSession victim(loop());
  admin.open_as("admin", {"kick_user"});
  eve.open_as("eve", {"moderate"});
  victim.open_as("victim");

  eve.receive(R"({"event":"kick","payload":{"user":"victim"},"id":1})");
  EXPECT_NE(expect_error(eve, "forbidden").find("kick_user"), std::string::npos);
  EXPECT_TRUE(victim.is_open());
  EXPECT_TRUE(victim.take_texts().empty());

  admin.receive(R"({"event":"kick","payload":{"user":"victim"},"id":2})");
  EXPECT_EQ(events_of(admin.take_texts()), std::vector<std::string>{"ack"});
  ASSERT_TRUE(victim.close_code());
  EXPECT_EQ(*victim.close_code(), 4003);
  EXPECT_TRUE(eve.is_open());
}

// ------------------------------------------------------------------ member_of

TEST_F(RulesTest, MemberOfTheTargetRoom) {
  DetachedSession alice(loop());
  DetachedSession bob(loop());
  alice.open_as("alice");
  bob.open_as("bob");
  alice.receive(R"({"event":"join","target":"room:a"})");

  bob.receive(R"({"event":"say","target":"room:a","payload":{"text":"hi"},"id":1})");
  EXPECT_EQ(expect_error(bob, "forbidden"), "not a member of room room:a");
  EXPECT_TRUE(alice.take_texts().empty());

  bob.receive(R"({"event":"say","target":"user:alice","payload":{"text":"hi"},"id":2})");
  expect_error(bob, "forbidden");
  EXPECT_TRUE(alice.take_texts().empty());

  alice.receive(R"({"event":"say","target":"room:a","payload":{"text":"hi"}})");
  EXPECT_EQ(events_of(alice.take_texts()), std::vector<std::string>{"said"});
}

TEST_F(RulesTest, MemberOfAFilledRoomTemplate) {
  DetachedSession alice(loop());
  alice.open_as("alice");
  alice.receive(R"({"event":"say_in","payload":{"room":"b"},"id":1})");
  EXPECT_EQ(expect_error(alice, "forbidden"), "not a member of room room:b");
  alice.receive(R"({"event":"join","target":"room:b"})");
  alice.receive(R"({"event":"say_in","payload":{"room":"b"},"id":2})");
  EXPECT_EQ(events_of(alice.take_texts()), (std::vector<std::string>{"ok", "ack"}));
  alice.receive(R"({"event":"say_in","payload":{},"id":3})");
  expect_error(alice, "missing_field");
}

// ------------------------------------------------------------------ match

TEST_F(RulesTest, MatchIsAWholeMatch) {
  DetachedSession alice(loop());
  DetachedSession bob(loop());
  alice.open_as("alice");
  bob.open_as("bob");
  for (const char* name : {"Bob", "bo", "bob!", "bob bob", "xbob_with_a_far_too_long_name"}) {
    alice.receive(std::string(R"({"event":"rename","id":1,"payload":{"name":")") + name + "\"}}");
    expect_error(alice, "forbidden");
  }
  EXPECT_TRUE(bob.take_texts().empty());
  alice.receive(R"({"event":"rename","payload":{"name":"bob_2"}})");
  EXPECT_EQ(events_of(bob.take_texts()), std::vector<std::string>{"renamed"});
}

// ------------------------------------------------------------------ room policies

TEST(RoomPolicyMatch, GlobsAndFirstMatchWins) {
  using config::glob_matches;
  EXPECT_TRUE(glob_matches("game:*", "game:"));
  EXPECT_TRUE(glob_matches("game:*", "game:1:2"));
  EXPECT_FALSE(glob_matches("game:*", "games:1"));
  EXPECT_FALSE(glob_matches("game:*", "xgame:1"));
  EXPECT_TRUE(glob_matches("*:vip", "room:vip"));
  EXPECT_FALSE(glob_matches("*:vip", "room:vip2"));
  EXPECT_TRUE(glob_matches("a?c", "abc"));
  EXPECT_FALSE(glob_matches("a?c", "ac"));
  EXPECT_TRUE(glob_matches("*a*b*", "xxaxxbxx"));
  EXPECT_FALSE(glob_matches("*a*b*", "xxbxxaxx"));
  EXPECT_TRUE(glob_matches("exact", "exact"));
  EXPECT_FALSE(glob_matches("exact", "exact!"));
  EXPECT_TRUE(glob_matches("*", ""));
  EXPECT_FALSE(glob_matches(std::string(40, '*') + "b", std::string(256, 'a')));

  auto compiled = compile_config(kConfig);
  ASSERT_TRUE(compiled);
  const auto& rooms = compiled->config().rooms;
  ASSERT_EQ(rooms.size(), 4u);
  EXPECT_EQ(config::find_room_policy(rooms, "game:1")->glob, "game:*");
  EXPECT_EQ(config::find_room_policy(rooms, "game:1")->max_members, 2u);
  EXPECT_EQ(config::find_room_policy(rooms, "quiet:x")->glob, "quiet:*");
  EXPECT_TRUE(config::find_room_policy(rooms, "quiet:x")->member_only_send);
  EXPECT_EQ(config::find_room_policy(rooms, "lobby")->glob, "*");  // order kept: "*" is last
}

TEST_F(RulesTest, MaxMembersCountsDistinctUsers) {
  DetachedSession alice1(loop());
  DetachedSession alice2(loop());
  DetachedSession bob(loop());
  DetachedSession carol(loop());
  alice1.open_as("alice");
  alice2.open_as("alice");
  bob.open_as("bob");
  carol.open_as("carol");

  alice1.receive(R"({"event":"join_connection","target":"game:1","id":1})");
  alice2.receive(R"({"event":"join_connection","target":"game:1","id":2})");
  bob.receive(R"({"event":"join","target":"game:1","id":3})");
  EXPECT_EQ(events_of(alice1.take_texts()), std::vector<std::string>{"ack"});
  EXPECT_EQ(events_of(alice2.take_texts()), std::vector<std::string>{"ack"});
  EXPECT_EQ(events_of(bob.take_texts()), std::vector<std::string>{"ack"});
  EXPECT_EQ(loop().delivery().directory().room_user_count("game:1"), 2u);

  carol.receive(R"({"event":"join","target":"game:1","id":4})");
  EXPECT_NE(expect_error(carol, "room_full").find("game:1"), std::string::npos);
  EXPECT_FALSE(carol.is_member("game:1"));
  // Someone else pulling carol in is refused alike.
  bob.receive(R"({"event":"pull","target":"game:1","payload":{"user":"carol"},"id":5})");
  expect_error(bob, "room_full");
  EXPECT_FALSE(carol.is_member("game:1"));

  // One of alice's connections leaving keeps her counted; both gone frees the place.
  alice1.close(1000, "");
  carol.receive(R"({"event":"join","target":"game:1","id":6})");
  expect_error(carol, "room_full");
  alice2.receive(R"({"event":"leave","target":"game:1"})");
  carol.receive(R"({"event":"join","target":"game:1","id":7})");
  EXPECT_EQ(events_of(carol.take_texts()), std::vector<std::string>{"ack"});
  EXPECT_TRUE(carol.is_member("game:1"));

  // The last connection of a user closing leaves its rooms and its place.
  bob.close(1000, "");
  DetachedSession dave(loop());
  dave.open_as("dave");
  dave.receive(R"({"event":"join","target":"game:1","id":8})");
  EXPECT_EQ(events_of(dave.take_texts()), std::vector<std::string>{"ack"});
  EXPECT_EQ(loop().delivery().directory().room_user_count("game:1"), 2u);
}

TEST_F(RulesTest, RoomsWithoutMaxMembersAreNotCounted) {
  DetachedSession alice(loop());
  alice.open_as("alice");
  alice.receive(R"({"event":"join","target":"lobby"})");
  EXPECT_TRUE(alice.is_member("lobby"));
  EXPECT_EQ(loop().delivery().directory().room_user_count("lobby"), 0u);
}

class RulesAcrossLoopsTest : public RulesTest {
 protected:
  RulesAcrossLoopsTest() : RulesTest(2) {}
};

TEST_F(RulesAcrossLoopsTest, MaxMembersCountsUsersOnEveryLoopAndJoinsInFlight) {
  DetachedSession alice0(loop(0));
  DetachedSession alice1(loop(1));
  DetachedSession bob(loop(1));
  DetachedSession carol(loop(0));
  alice0.open_as("alice");
  alice1.open_as("alice");
  bob.open_as("bob");
  carol.open_as("carol");

  // Alice joins from loop 0: her loop-1 connection's join is still in flight, yet she counts once.
  alice0.receive(R"({"event":"join","target":"game:x","id":1})");
  EXPECT_EQ(loop(0).delivery().directory().room_user_count("game:x"), 1u);
  bob.receive(R"({"event":"join","target":"game:x","id":2})");
  EXPECT_EQ(events_of(bob.take_texts()), std::vector<std::string>{"ack"});
  carol.receive(R"({"event":"join","target":"game:x","id":3})");
  expect_error(carol, "room_full");

  run_ready(loop(0));
  run_ready(loop(1));
  EXPECT_TRUE(alice1.is_member("game:x"));
  EXPECT_EQ(loop(0).delivery().directory().room_user_count("game:x"), 2u);

  // Alice leaves on both loops: the place is free again.
  alice0.receive(R"({"event":"leave","target":"game:x"})");
  run_ready(loop(0));
  run_ready(loop(1));
  EXPECT_FALSE(alice1.is_member("game:x"));
  carol.receive(R"({"event":"join","target":"game:x","id":4})");
  EXPECT_EQ(events_of(carol.take_texts()), std::vector<std::string>{"ack"});
}

TEST_F(RulesAcrossLoopsTest, AJoinInFlightToAnotherLoopHoldsItsPlace) {
  DetachedSession bob(loop(0));
  DetachedSession carol(loop(1));  // only on loop 1: bob's pull reaches her later
  DetachedSession dave(loop(0));
  bob.open_as("bob");
  carol.open_as("carol");
  dave.open_as("dave");
  bob.receive(R"({"event":"join","target":"game:y","id":1})");
  bob.receive(R"({"event":"pull","target":"game:y","payload":{"user":"carol"},"id":2})");
  EXPECT_EQ(events_of(bob.take_texts()), (std::vector<std::string>{"ack", "ack"}));
  EXPECT_FALSE(carol.is_member("game:y"));  // not yet applied on loop 1
  dave.receive(R"({"event":"join","target":"game:y","id":3})");
  expect_error(dave, "room_full");

  run_ready(loop(0));
  run_ready(loop(1));
  EXPECT_TRUE(carol.is_member("game:y"));
  EXPECT_EQ(loop(0).delivery().directory().room_user_count("game:y"), 2u);
}

TEST_F(RulesAcrossLoopsTest, DisconnectClosesTheUsersConnectionsOnEveryLoop) {
  DetachedSession admin(loop(0));
  DetachedSession victim0(loop(0));
  DetachedSession victim1(loop(1));
  DetachedSession bystander(loop(1));
  admin.open_as("admin", {"kick_user"});
  victim0.open_as("victim");
  victim1.open_as("victim");
  bystander.open_as("bystander");
  admin.receive(R"({"event":"kick","payload":{"user":"victim"},"id":1})");
  EXPECT_EQ(events_of(admin.take_texts()), std::vector<std::string>{"ack"});
  ASSERT_TRUE(victim0.close_code());
  EXPECT_EQ(*victim0.close_code(), 4003);
  run_ready(loop(0));
  run_ready(loop(1));
  ASSERT_TRUE(victim1.close_code());
  EXPECT_EQ(*victim1.close_code(), 4003);
  EXPECT_FALSE(bystander.close_code());
  EXPECT_TRUE(admin.is_open());
}

TEST_F(RulesTest, JoinPermissionIsAskedOfTheSender) {
  DetachedSession mod(loop());
  DetachedSession alice(loop());
  mod.open_as("mod", {"moderate"});
  alice.open_as("alice");

  alice.receive(R"({"event":"join","target":"stage:main","id":1})");
  EXPECT_NE(expect_error(alice, "forbidden").find("moderate"), std::string::npos);
  EXPECT_FALSE(alice.is_member("stage:main"));

  // A moderator may bring alice in.
  mod.receive(R"({"event":"pull","target":"stage:main","payload":{"user":"alice"},"id":2})");
  EXPECT_EQ(events_of(mod.take_texts()), std::vector<std::string>{"ack"});
  EXPECT_TRUE(alice.is_member("stage:main"));
}

TEST_F(RulesTest, MemberOnlySendRefusesNonMembersAndDeliversNothing) {
  DetachedSession alice(loop());
  DetachedSession bob(loop());
  alice.open_as("alice");
  bob.open_as("bob");
  alice.receive(R"({"event":"join","target":"quiet:1"})");

  bob.receive(R"({"event":"shout","target":"quiet:1","id":1})");
  EXPECT_NE(expect_error(bob, "forbidden").find("quiet:1"), std::string::npos);
  EXPECT_TRUE(alice.take_texts().empty());

  // Rooms without the policy take anyone's message, members' messages pass.
  bob.receive(R"({"event":"shout","target":"lobby","id":2})");
  EXPECT_EQ(events_of(bob.take_texts()), std::vector<std::string>{"ack"});
  alice.receive(R"({"event":"shout","target":"quiet:1"})");
  EXPECT_EQ(events_of(alice.take_texts()), std::vector<std::string>{"shouted"});
}

// ------------------------------------------------------------------ load-time checks

using test_support::compile_errors;

TEST(RulesConfig, UndeclaredPermissionIsAnErrorAtItsPosition) {
  EXPECT_EQ(compile_errors(R"(
permissions: [kick_user]
events:
  kick:
    modifiers:
      - name: require_permission
        params: [kick_usr]
    actions:
      - {name: _reply, params: [ok, '{}']}
)"),
            std::vector<std::string>{
                "test.yaml:6:18: `require_permission`: `kick_usr` is not in the config's "
                "`permissions:` list; add it there"});
}

TEST(RulesConfig, InvalidRegexIsAnErrorAtItsPosition) {
  const auto errors = compile_errors(R"(
events:
  e:
    modifiers:
      - name: match
        params: ["{.payload.x}", "a(b"]
    actions:
      - {name: _reply, params: [ok, '{}']}
)");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("test.yaml:5:34: `match`: invalid regex: ")) << errors[0];
}

TEST(RulesConfig, UndeclaredJoinPermissionAndPresenceRooms) {
  EXPECT_EQ(compile_errors(R"(
permissions: []
rooms:
  "game:*": { join_permission: play }
events:
  e:
    actions:
      - {name: _reply, params: [ok, '{}']}
)"),
            std::vector<std::string>{
                "test.yaml:3:32: `rooms.game:*.join_permission`: `play` is not in the config's "
                "`permissions:` list; add it there"});
  EXPECT_TRUE(compile_errors(R"(
rooms:
  "chat:*": { presence: true, history: { size: 100, ttl: 10m } }
events:
  e:
    actions:
      - {name: _presence, params: ["chat:lobby"]}
      - {name: _presence, params: ["{$target.id}"]}
)")
                  .empty());
  EXPECT_EQ(compile_errors(R"(
rooms:
  "chat:*": { presence: true }
events:
  e:
    actions:
      - {name: _presence, params: ["game:1"]}
)"),
            std::vector<std::string>{"test.yaml:6:36: `_presence`: room game:1 has no presence: "
                                     "give its room policy `presence: true`"});
  EXPECT_EQ(compile_errors(R"(
rooms:
  "chat:*": { max_members: 3 }
events:
  e:
    actions:
      - {name: _presence, params: ["{$target.id}"]}
)"),
            std::vector<std::string>{"test.yaml:6:36: `_presence`: no room policy has `presence: "
                                     "true`, and this action answers only for rooms under one"});
  EXPECT_TRUE(compile_errors(R"(
rooms:
  "chat:*": { history: { size: 10 } }
cluster:
  redis: redis://127.0.0.1:6379
events:
  e:
    actions:
      - {name: _reply, params: [ok, '{}']}
)")
                  .empty());
  EXPECT_NE(compile_errors("rooms:\n  \"a\": { max_memberz: 3 }\nevents: {e: {actions: [{name: "
                           "_reply, params: [ok, '{}']}]}}\n")
                .at(0)
                .find("did you mean `max_members`"),
            std::string::npos);
}

}  // namespace
}  // namespace dispatch
