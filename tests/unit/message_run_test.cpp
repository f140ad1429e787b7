// MessageRun through a real loop and connection (tests/unit/session_test_support.h): steps run
// in order, the first failure stops the rest and is the one answer, the ack comes after every
// step, a pending step holds the message (and the ones behind it) until its Completion, and a
// continuation runs first with a fresh context.
#include <gtest/gtest.h>

#include <string>

#include "session_test_support.h"

namespace dispatch {
namespace {

using test_support::event_of;
using test_support::SessionFixture;
using test_support::TestClient;

const std::string kEvents = R"(
events:
  two_replies:
    actions:
      - {name: _reply, params: [first, '{"n": 1}']}
      - {name: _reply, params: [second, '{"n": 2}']}
  fails_midway:
    actions:
      - {name: _reply, params: [before, '{}']}
      - {name: t_fail}
      - {name: _reply, params: [never, '{}']}
  parks:
    actions:
      - {name: _reply, params: [before, '{}']}
      - {name: t_park}
      - {name: _reply, params: [after, '{}']}
  quick:
    actions:
      - {name: _reply, params: [quick_ok, '{}']}
)";

// The next frame must be the ack of `ref`.
void expect_ack(TestClient& client, int ref) {
  const auto frame = client.next_json();
  EXPECT_EQ(event_of(frame), "ack") << frame;
  if (event_of(frame) == "ack") {
    EXPECT_EQ(frame.at("payload").at("ref").as_int64(), ref);
  }
}

class MessageRunTest : public ::testing::Test {
 protected:
  SessionFixture session{kEvents};
  std::unique_ptr<TestClient> client = session.running() ? session.connect() : nullptr;
  void SetUp() override { ASSERT_TRUE(client); }
};

TEST_F(MessageRunTest, StepsRunInOrderThenTheAck) {
  client->send_text(R"({"event":"two_replies","id":1})");
  auto first = client->next_json();
  EXPECT_EQ(event_of(first), "first");
  EXPECT_EQ(first.at("ref").as_int64(), 1);
  EXPECT_EQ(event_of(client->next_json()), "second");
  expect_ack(*client, 1);
}

TEST_F(MessageRunTest, NoIdNoAck) {
  client->send_text(R"({"event":"two_replies"})");
  EXPECT_EQ(event_of(client->next_json()), "first");
  EXPECT_EQ(event_of(client->next_json()), "second");
  client->send_text(R"({"event":"quick","id":"barrier"})");
  EXPECT_EQ(event_of(client->next_json()), "quick_ok");  // not an ack for the first message
}

TEST_F(MessageRunTest, FirstFailureStopsTheRestAndIsTheOnlyAnswer) {
  client->send_text(R"({"event":"fails_midway","id":2})");
  EXPECT_EQ(event_of(client->next_json()), "before");
  auto error = client->next_json();
  ASSERT_EQ(event_of(error), "error");
  EXPECT_EQ(error.at("payload").at("code").as_string(), "forbidden");
  EXPECT_EQ(error.at("payload").at("message").as_string(), "t_fail refused");
  EXPECT_EQ(error.at("payload").at("ref").as_int64(), 2);
  EXPECT_EQ(error.at("payload").at("event").as_string(), "fails_midway");
  // Neither the step after the failure nor an ack: the next frame answers the next message.
  client->send_text(R"({"event":"quick","id":3})");
  EXPECT_EQ(event_of(client->next_json()), "quick_ok");
  expect_ack(*client, 3);
}

TEST_F(MessageRunTest, PendingThenDoneRunsTheRestThenTheAck) {
  client->send_text(R"({"event":"parks","id":4})");
  EXPECT_EQ(event_of(client->next_json()), "before");
  Completion completion = session.parked.take();
  completion.done();
  EXPECT_EQ(event_of(client->next_json()), "after");
  expect_ack(*client, 4);
}

TEST_F(MessageRunTest, PendingThenFailAnswersTheFailureOnly) {
  client->send_text(R"({"event":"parks","id":5})");
  EXPECT_EQ(event_of(client->next_json()), "before");
  session.parked.take().fail(ErrorCode::forbidden, "the lookup said no");
  auto error = client->next_json();
  ASSERT_EQ(event_of(error), "error");
  EXPECT_EQ(error.at("payload").at("code").as_string(), "forbidden");
  EXPECT_EQ(error.at("payload").at("message").as_string(), "the lookup said no");
  EXPECT_EQ(error.at("payload").at("ref").as_int64(), 5);
  client->send_text(R"({"event":"quick","id":6})");
  EXPECT_EQ(event_of(client->next_json()), "quick_ok");
  expect_ack(*client, 6);
}

TEST_F(MessageRunTest, DroppedCompletionFailsWithInternal) {
  client->send_text(R"({"event":"parks","id":7})");
  EXPECT_EQ(event_of(client->next_json()), "before");
  { Completion dropped = session.parked.take(); }
  auto error = client->next_json();
  ASSERT_EQ(event_of(error), "error");
  EXPECT_EQ(error.at("payload").at("code").as_string(), "internal");
  EXPECT_EQ(error.at("payload").at("message").as_string(), "a step did not finish");
}

TEST_F(MessageRunTest, ContinuationRunsFirstWithTheSameMessage) {
  client->send_text(R"({"event":"parks","id":8})");
  EXPECT_EQ(event_of(client->next_json()), "before");
  session.parked.take().done([](StepContext& later) {
    std::string name(later.event_name());
    later.reply("continued", "{\"event\":\"" + name + "\"}");
    return StepStatus::done;
  });
  auto continued = client->next_json();
  EXPECT_EQ(event_of(continued), "continued");
  EXPECT_EQ(continued.at("payload").at("event").as_string(), "parks");
  EXPECT_EQ(continued.at("ref").as_int64(), 8);
  EXPECT_EQ(event_of(client->next_json()), "after");
  expect_ack(*client, 8);
}

TEST_F(MessageRunTest, ContinuationThatFailsAnswersItsFailure) {
  client->send_text(R"({"event":"parks","id":9})");
  EXPECT_EQ(event_of(client->next_json()), "before");
  session.parked.take().done(
      [](StepContext& later) { return later.fail(ErrorCode::forbidden, "changed its mind"); });
  auto error = client->next_json();
  ASSERT_EQ(event_of(error), "error");
  EXPECT_EQ(error.at("payload").at("message").as_string(), "changed its mind");
}

TEST_F(MessageRunTest, MessagesBehindAPendingOneWaitAndKeepTheirOrder) {
  client->send_text(R"({"event":"parks","id":10})");
  client->send_text(R"({"event":"quick","id":11})");
  client->send_text(R"({"event":"parks","id":12})");
  EXPECT_EQ(event_of(client->next_json()), "before");
  session.parked.take().done();
  EXPECT_EQ(event_of(client->next_json()), "after");
  expect_ack(*client, 10);
  EXPECT_EQ(event_of(client->next_json()), "quick_ok");
  expect_ack(*client, 11);
  EXPECT_EQ(event_of(client->next_json()), "before");
  session.parked.take().done();
  EXPECT_EQ(event_of(client->next_json()), "after");
  expect_ack(*client, 12);
}

}  // namespace
}  // namespace dispatch
