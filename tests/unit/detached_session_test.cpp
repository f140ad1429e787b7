// The pipeline without a socket: DetachedSessions (tests/unit/loop_test_support.h) on a loop that
// never starts its thread, with the loop's clock made manual. This is the seam `dispatch test`
// stands on: the same routing, steps, rooms and fan-out as a real connection, and time that moves
// only when the test says so.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "loop_test_support.h"

namespace dispatch {
namespace {

using test_support::compile_config;
using test_support::DetachedSession;

const std::string kConfig = R"(
auth:
  jwt:
    secret: "0123456789abcdef0123456789abcdef"
events:
  limited:
    modifiers:
      - {name: rate_limit, params: ["2/s"]}
    actions:
      - {name: _reply, params: [ok, '{}']}
  join:
    actions:
      - {name: _join, params: ["{$user.id}", "{$target.id}"]}
  say:
    actions:
      - {name: _notify_room, params: [said, '{"text": "{.payload.text}"}']}
)";

// The `event` of each text frame.
std::vector<std::string> events_of(const std::vector<std::string>& texts) {
  std::vector<std::string> events;
  for (const std::string& text : texts) {
    const boost::json::value frame = boost::json::parse(text);
    events.emplace_back(frame.at("event").as_string());
  }
  return events;
}

class DetachedSessionTest : public ::testing::Test {
 protected:
  DetachedSessionTest() : engine_(1, compile_config(kConfig)) {
    loop().sessions().clock() = Clock::manual(SteadyTime(std::chrono::hours(1000)), 1'800'000'000);
  }
  EventLoop& loop() { return engine_.loop(0); }

  Engine engine_;
};

TEST_F(DetachedSessionTest, RateLimitReadsTheLoopsClock) {
  DetachedSession alice(loop());
  alice.open_as("alice");
  for (int i = 0; i < 3; ++i) alice.receive(R"({"event":"limited"})");
  EXPECT_EQ(events_of(alice.take_texts()), (std::vector<std::string>{"ok", "ok", "error"}));

  // The system clock moves on, the loop's does not: still limited.
  alice.receive(R"({"event":"limited"})");
  EXPECT_EQ(events_of(alice.take_texts()), std::vector<std::string>{"error"});

  // Two windows later (manual time) the limit has passed.
  loop().sessions().clock().advance(std::chrono::seconds(2));
  alice.receive(R"({"event":"limited"})");
  EXPECT_EQ(events_of(alice.take_texts()), std::vector<std::string>{"ok"});
}

TEST_F(DetachedSessionTest, RoomsAndFanOutReachSessionsWithoutSockets) {
  DetachedSession alice(loop());
  DetachedSession bob(loop());
  alice.open_as("alice");
  bob.open_as("bob");
  alice.receive(R"({"event":"join","target":"room:lobby"})");
  bob.receive(R"({"event":"join","target":"room:lobby"})");
  EXPECT_TRUE(bob.is_member("room:lobby"));
  bob.receive(R"({"event":"say","target":"room:lobby","payload":{"text":"hi"}})");

  const std::vector<std::string> received = alice.take_texts();
  ASSERT_EQ(received.size(), 1u);
  const boost::json::value said = boost::json::parse(received[0]);
  EXPECT_EQ(said.at("event").as_string(), "said");
  EXPECT_EQ(said.at("payload").at("text").as_string(), "hi");
  EXPECT_EQ(said.at("from").as_string(), "bob");
}

TEST_F(DetachedSessionTest, ErrorBudgetClosesWithPolicyCode) {
  DetachedSession mallory(loop());
  mallory.open_as("mallory");
  for (int i = 0; i < 200 && !mallory.close_code(); ++i) mallory.receive("not json");
  ASSERT_TRUE(mallory.close_code());
  EXPECT_EQ(*mallory.close_code(), 1008);
  EXPECT_FALSE(mallory.is_open());
}

}  // namespace
}  // namespace dispatch
