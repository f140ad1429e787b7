// Lifecycle hooks (`hooks:` in config) on DetachedSessions: on_connect, on_disconnect, on_join and
// on_leave run their actions after the fact, on the loop of the session they concern, with
// {$user.id}, {$conn.id}, {$room.id} and the token's claims; a closing session's on_leave runs
// for every room it was in, after it has left them. And what a config may not put in a hook.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "loop_test_support.h"

namespace dispatch {
namespace {

using test_support::compile_config;
using test_support::compile_errors;
using test_support::DetachedSession;
using test_support::run_ready;

const std::string kPresenceConfig = R"(
auth:
  jwt:
    secret: "0123456789abcdef0123456789abcdef"
events:
  join:
    actions:
      - {name: _join, params: ["{$user.id}", "{$target.id}"]}
  leave:
    actions:
      - {name: _leave, params: ["{$user.id}", "{$target.id}"]}
hooks:
  on_connect:
    - {name: _reply, params: [motd, '{"conn": "{$conn.id}", "org": "{$token.org}"}']}
    - {name: _join, params: ["{$user.id}", "lobby"]}
  on_join:
    - {name: _notify_room, params: [joined, '{"user": "{$user.id}", "room": "{$room.id}"}']}
  on_leave:
    - {name: _notify_room, params: [left, '{"user": "{$user.id}", "room": "{$room.id}"}']}
  on_disconnect:
    - {name: _broadcast, params: [gone, '{"user": "{$user.id}", "conn": "{$conn.id}"}']}
)";

struct Frame {
  std::string event;
  boost::json::value frame;
};

std::vector<Frame> frames_of(DetachedSession& session) {
  std::vector<Frame> frames;
  for (const std::string& text : session.take_texts()) {
    boost::json::value frame = boost::json::parse(text);
    frames.push_back({std::string(frame.at("event").as_string()), frame});
  }
  return frames;
}

std::vector<std::string> events_of(const std::vector<Frame>& frames) {
  std::vector<std::string> events;
  for (const Frame& frame : frames) events.push_back(frame.event);
  return events;
}

// Runs every loop's ready handlers until none is left (hooks, batches between loops).
void settle(Engine& engine) {
  for (int round = 0; round < 20; ++round) {
    size_t ran = 0;
    for (unsigned i = 0; i < engine.loop_count(); ++i) ran += run_ready(engine.loop(i));
    if (ran == 0) return;
  }
  ADD_FAILURE() << "the loops did not settle";
}

std::string str(const boost::json::value& value, std::string_view key) {
  return std::string(value.at(key).as_string());
}

class HooksTest : public ::testing::Test {
 protected:
  explicit HooksTest(unsigned loops = 1) : engine_(loops, compile_config(kPresenceConfig)) {}
  EventLoop& loop(unsigned i = 0) { return engine_.loop(i); }
  void settle() { dispatch::settle(engine_); }
  uint64_t hook_runs(Hook hook, bool failed) {
    uint64_t total = 0;
    for (unsigned i = 0; i < engine_.loop_count(); ++i) {
      total += loop(i).sessions().metrics().hook_runs[static_cast<size_t>(hook)][failed].read();
    }
    return total;
  }

  Engine engine_;
};

TEST_F(HooksTest, OnConnectRepliesAndJoinsAfterTheWelcome) {
  DetachedSession alice(loop());
  alice.open_as("alice", {}, {{"org", {true, "acme"}}});
  settle();
  const std::vector<Frame> frames = frames_of(alice);
  // The motd, then her own on_join notice for the lobby the hook joined her to.
  ASSERT_EQ(events_of(frames), (std::vector<std::string>{"motd", "joined"}));
  EXPECT_EQ(str(frames[0].frame.at("payload"), "conn"), alice.id());
  EXPECT_EQ(str(frames[0].frame.at("payload"), "org"), "acme");
  EXPECT_FALSE(frames[0].frame.as_object().contains("from"));
  EXPECT_TRUE(alice.is_member("lobby"));
  EXPECT_EQ(hook_runs(Hook::on_connect, false), 1u);
  EXPECT_EQ(hook_runs(Hook::on_connect, true), 0u);
}

TEST_F(HooksTest, JoinAndLeaveNoticesReachTheMembersWithUserAndRoom) {
  DetachedSession alice(loop());
  DetachedSession bob(loop());
  alice.open_as("alice", {}, {{"org", {true, "acme"}}});
  bob.open_as("bob", {}, {{"org", {true, "acme"}}});
  settle();
  frames_of(alice);
  frames_of(bob);

  alice.receive(R"({"event":"join","target":"room:1","id":1})");
  // The hook runs after the message is answered: its notice comes after the ack.
  settle();
  bob.receive(R"({"event":"join","target":"room:1","id":2})");
  settle();
  std::vector<Frame> to_alice = frames_of(alice);
  ASSERT_EQ(events_of(to_alice), (std::vector<std::string>{"ack", "joined", "joined"}));
  EXPECT_EQ(str(to_alice[1].frame.at("payload"), "user"), "alice");
  EXPECT_EQ(str(to_alice[2].frame.at("payload"), "user"), "bob");
  EXPECT_EQ(str(to_alice[2].frame.at("payload"), "room"), "room:1");
  EXPECT_EQ(str(to_alice[2].frame, "room"), "room:1");
  EXPECT_EQ(str(to_alice[2].frame, "from"), "bob");

  bob.receive(R"({"event":"leave","target":"room:1","id":3})");
  settle();
  to_alice = frames_of(alice);
  ASSERT_EQ(events_of(to_alice), std::vector<std::string>{"left"});
  EXPECT_EQ(str(to_alice[0].frame.at("payload"), "user"), "bob");
  EXPECT_EQ(str(to_alice[0].frame.at("payload"), "room"), "room:1");
  // Bob is no longer a member: his own leave notice does not reach him.
  EXPECT_EQ(events_of(frames_of(bob)), (std::vector<std::string>{"ack", "joined", "ack"}));
}

TEST_F(HooksTest, OnLeaveRunsForEveryRoomAtDisconnectThenOnDisconnect) {
  DetachedSession alice(loop());
  DetachedSession bob(loop());
  alice.open_as("alice", {}, {{"org", {true, "acme"}}});
  bob.open_as("bob", {}, {{"org", {true, "acme"}}});
  alice.receive(R"({"event":"join","target":"room:a"})");
  alice.receive(R"({"event":"join","target":"room:b"})");
  bob.receive(R"({"event":"join","target":"room:a"})");
  bob.receive(R"({"event":"join","target":"room:b"})");
  settle();
  frames_of(bob);
  const std::string alice_conn = alice.id();

  alice.close(1000, "bye");
  settle();
  const std::vector<Frame> to_bob = frames_of(bob);
  // on_leave for lobby (on_connect joined it), room:a and room:b, in some order, then gone.
  ASSERT_EQ(to_bob.size(), 4u) << ::testing::PrintToString(events_of(to_bob));
  std::vector<std::string> rooms_left;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(to_bob[i].event, "left");
    EXPECT_EQ(str(to_bob[i].frame.at("payload"), "user"), "alice");
    rooms_left.push_back(str(to_bob[i].frame.at("payload"), "room"));
  }
  std::sort(rooms_left.begin(), rooms_left.end());
  EXPECT_EQ(rooms_left, (std::vector<std::string>{"lobby", "room:a", "room:b"}));
  EXPECT_EQ(to_bob[3].event, "gone");
  EXPECT_EQ(str(to_bob[3].frame.at("payload"), "conn"), alice_conn);
  EXPECT_EQ(hook_runs(Hook::on_leave, false), 3u);
  EXPECT_EQ(hook_runs(Hook::on_disconnect, false), 1u);
}

class HooksTwoLoopsTest : public HooksTest {
 protected:
  HooksTwoLoopsTest() : HooksTest(2) {}
};

TEST_F(HooksTwoLoopsTest, AJoinAppliedOnAnotherLoopRunsOnJoinThere) {
  DetachedSession alice_here(loop(0));
  DetachedSession alice_there(loop(1));
  DetachedSession bob(loop(1));
  alice_here.open_as("alice", {}, {{"org", {true, "acme"}}});
  alice_there.open_as("alice", {}, {{"org", {true, "acme"}}});
  bob.open_as("bob", {}, {{"org", {true, "acme"}}});
  bob.receive(R"({"event":"join","target":"room:x"})");
  settle();
  frames_of(alice_here);
  frames_of(alice_there);
  frames_of(bob);

  // Alice's `_join` on loop 0 joins her connection on loop 1 too: one notice per connection.
  alice_here.receive(R"({"event":"join","target":"room:x"})");
  settle();
  const std::vector<Frame> to_bob = frames_of(bob);
  ASSERT_EQ(events_of(to_bob), (std::vector<std::string>{"joined", "joined"}));
  EXPECT_EQ(str(to_bob[0].frame.at("payload"), "user"), "alice");
  EXPECT_EQ(str(to_bob[1].frame.at("payload"), "user"), "alice");
  EXPECT_EQ(loop(0).sessions().metrics().hook_runs[static_cast<size_t>(Hook::on_join)][0].read(),
            2u);  // lobby (on_connect) and room:x
  EXPECT_EQ(loop(1).sessions().metrics().hook_runs[static_cast<size_t>(Hook::on_join)][0].read(),
            4u);  // lobby twice, bob's and alice's room:x
}

TEST(HooksFailure, AFailingHookIsCountedAndNeverReachesTheClient) {
  Engine engine(1, compile_config(R"(
auth:
  jwt:
    secret: "0123456789abcdef0123456789abcdef"
events:
  join:
    actions:
      - {name: _join, params: ["{$user.id}", "{$target.id}"]}
hooks:
  on_join:
    - {name: _notify_user, params: ["{$token.team}", hello, '{}']}
)"));
  DetachedSession alice(engine.loop(0));
  alice.open_as("alice");  // no `team` claim: the hook's step fails with missing_field
  alice.receive(R"({"event":"join","target":"room:1","id":1})");
  settle(engine);
  EXPECT_EQ(events_of(frames_of(alice)), std::vector<std::string>{"ack"});
  EXPECT_TRUE(alice.is_open());
  const auto& runs =
      engine.loop(0).sessions().metrics().hook_runs[static_cast<size_t>(Hook::on_join)];
  EXPECT_EQ(runs[1].read(), 1u);
  EXPECT_EQ(runs[0].read(), 0u);
}

TEST(HooksNone, AConfigWithoutHooksDeclaresNone) {
  auto compiled = compile_config(R"(
auth:
  jwt:
    secret: "0123456789abcdef0123456789abcdef"
events:
  e:
    actions:
      - {name: _reply, params: [ok, '{}']}
hooks:
  on_join: []
)");
  ASSERT_TRUE(compiled);
  for (Hook hook : {Hook::on_connect, Hook::on_disconnect, Hook::on_join, Hook::on_leave}) {
    EXPECT_EQ(compiled->hook(hook), nullptr) << hook_name(hook);
  }
  EXPECT_FALSE(compiled->has_membership_hooks());
}

// ------------------------------------------------------------------ load-time checks

std::vector<std::string> hook_errors(std::string_view hooks_yaml) {
  return compile_errors(
      "events:\n  e:\n    actions:\n      - {name: _reply, params: [ok, '{}']}\n"
      "webhooks:\n  backend: {url: \"http://127.0.0.1:9/x\"}\nhooks:\n" +
      std::string(hooks_yaml));
}

TEST(HooksConfig, UnknownHookNameHasAHint) {
  const auto errors = hook_errors("  on_joined: []\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("test.yaml:8:3: ")) << errors[0];
  EXPECT_NE(errors[0].find("did you mean `on_join`"), std::string::npos) << errors[0];
}

TEST(HooksConfig, UnknownActionHasAHintAtItsLine) {
  const auto errors =
      hook_errors("  on_connect:\n    - {name: _notify_usr, params: [a, b, '{}']}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("test.yaml:9:7: unknown action `_notify_usr`")) << errors[0];
  EXPECT_NE(errors[0].find("did you mean `_notify_user`"), std::string::npos) << errors[0];
}

TEST(HooksConfig, RoomIdOnlyInJoinAndLeave) {
  auto errors = hook_errors(
      "  on_connect:\n    - {name: _webhook, params: [backend, '{\"room\": \"{$room.id}\"}']}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("test.yaml:9:")) << errors[0];
  EXPECT_NE(errors[0].find("{$room.id}"), std::string::npos) << errors[0];
  EXPECT_TRUE(hook_errors("  on_leave:\n    - {name: _webhook, params: [backend, '{\"room\": "
                          "\"{$room.id}\"}']}\n")
                  .empty());
}

TEST(HooksConfig, PayloadAndTargetAreNotThere) {
  auto errors = hook_errors(
      "  on_join:\n    - {name: _webhook, params: [backend, '{\"x\": \"{.payload.x}\"}']}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("test.yaml:9:")) << errors[0];
  EXPECT_NE(errors[0].find("a hook has no payload"), std::string::npos) << errors[0];
  errors = hook_errors("  on_join:\n    - {name: _log, params: ['{$target.id}']}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("no message target"), std::string::npos) << errors[0];
}

TEST(HooksConfig, ActionsThatCannotRunInAHook) {
  struct Case {
    std::string yaml;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"  on_disconnect:\n    - {name: _reply, params: [bye, '{}']}\n", "nobody to answer"},
      {"  on_leave:\n    - {name: _notify_origin, params: [bye, '{}']}\n", "nobody to answer"},
      {"  on_connect:\n    - {name: _notify_room, params: [hi, '{}']}\n",
       "`hooks.on_connect` has none"},
      {"  on_connect:\n    - {name: _disconnect, params: ['{$user.id}', no]}\n",
       "hooks never close connections"},
      {"  on_join:\n    - {name: _join, params: ['{$user.id}', other]}\n",
       "only in `hooks.on_connect`"},
      {"  on_connect:\n    - {name: rate_limit, params: [1/s]}\n", "is a modifier, not an action"},
  };
  for (const Case& c : cases) {
    const auto errors = hook_errors(c.yaml);
    ASSERT_EQ(errors.size(), 1u) << c.yaml;
    EXPECT_TRUE(errors[0].starts_with("test.yaml:9:7: ")) << errors[0];
    EXPECT_NE(errors[0].find(c.says), std::string::npos) << errors[0];
  }
}

}  // namespace
}  // namespace dispatch
