// A pending step's Completion may be called from any thread at any time (dispatch/extension.h):
// after its connection is gone, after the step timed out, after the server stopped. Each is a
// no-op that touches no freed memory (run these under ASan and TSan too), and a step that never
// finishes is answered after server.step_timeout while its connection goes on.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "session_test_support.h"

namespace dispatch {
namespace {

using test_support::event_of;
using test_support::SessionFixture;
using test_support::TestClient;

const std::string kEvents = R"(
events:
  parks:
    actions:
      - {name: _reply, params: [before, '{}']}
      - {name: t_park}
      - {name: _reply, params: [after, '{}']}
  quick:
    actions:
      - {name: _reply, params: [quick_ok, '{}']}
)";

// A continuation that records whether it ran, and whether it has been destroyed.
struct Witness {
  std::shared_ptr<std::atomic<bool>> ran = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<int> alive = std::make_shared<int>(0);

  Completion::Continuation continuation() const {
    return [ran = ran, alive = alive](StepContext& later) {
      ran->store(true);
      later.reply("continued", "{}");
      return StepStatus::done;
    };
  }
  bool destroyed() const { return alive.use_count() == 1; }
};

// From a thread of its own, as a step that waits on I/O would.
void finish_from_another_thread(Completion completion, const Completion::Continuation& then) {
  std::thread([&completion, &then] { completion.done(then); }).join();
}

void round_trip(TestClient& client, int id) {
  client.send_text(R"({"event":"quick","id":)" + std::to_string(id) + "}");
  EXPECT_EQ(event_of(client.next_json()), "quick_ok");
  EXPECT_EQ(event_of(client.next_json()), "ack");
}

TEST(CompletionLifetime, CompletingAfterTheConnectionClosedIsIgnored) {
  SessionFixture session(kEvents);
  ASSERT_TRUE(session.running());
  auto client = session.connect();
  client->send_text(R"({"event":"parks","id":1})");
  EXPECT_EQ(event_of(client->next_json()), "before");
  Completion completion = session.parked.take();

  client->close();
  // The connection is freed although its step is still pending: nothing holds it.
  ASSERT_TRUE(session.wait_until_no_connections());

  Witness witness;
  finish_from_another_thread(std::move(completion), witness.continuation());
  // The loop is fine and ran the completion's handler before this connection's messages.
  auto other = session.connect();
  round_trip(*other, 2);
  EXPECT_FALSE(witness.ran->load());
}

TEST(CompletionLifetime, CompletingOrDroppingAfterShutdownIsIgnored) {
  SessionFixture session(kEvents);
  ASSERT_TRUE(session.running());
  auto first = session.connect();
  auto second = session.connect();
  first->send_text(R"({"event":"parks","id":1})");
  second->send_text(R"({"event":"parks","id":1})");
  Completion to_finish = session.parked.take();
  Completion to_drop = session.parked.take();

  session.stop();  // the loop stopped and freed, its connections with it

  Witness witness;
  finish_from_another_thread(std::move(to_finish), witness.continuation());
  EXPECT_FALSE(witness.ran->load());
  EXPECT_TRUE(witness.destroyed());
  std::thread([dropped = std::move(to_drop)] {}).join();
}

// Completions racing the close of their connections (for TSan and ASan: no report, no leak of
// the connections).
TEST(CompletionLifetime, CompletionsRacingTheirConnectionsClosingAreSafe) {
  SessionFixture session(kEvents);
  ASSERT_TRUE(session.running());
  for (int round = 0; round < 20; ++round) {
    auto client = session.connect();
    client->send_text(R"({"event":"parks","id":1})");
    EXPECT_EQ(event_of(client->next_json()), "before");
    Completion completion = session.parked.take();
    Witness witness;
    std::thread finisher([&] { completion.done(witness.continuation()); });
    client->close();
    finisher.join();
  }
  EXPECT_TRUE(session.wait_until_no_connections());
}

TEST(CompletionLifetime, StepThatNeverFinishesIsAnsweredAfterStepTimeout) {
  SessionFixture session("server:\n  step_timeout: 100ms\n" + kEvents);
  ASSERT_TRUE(session.running());
  auto client = session.connect();
  client->send_text(R"({"event":"parks","id":1})");
  client->send_text(R"({"event":"quick","id":2})");  // waits behind the pending message
  EXPECT_EQ(event_of(client->next_json()), "before");

  auto error = client->next_json();
  ASSERT_EQ(event_of(error), "error") << error;
  EXPECT_EQ(error.at("payload").at("code").as_string(), "internal");
  EXPECT_EQ(error.at("payload").at("message").as_string(),
            "step `t_park` did not finish within server.step_timeout (100ms)");
  EXPECT_EQ(error.at("payload").at("ref").as_int64(), 1);
  // The connection goes on with the message that waited, then with new ones.
  EXPECT_EQ(event_of(client->next_json()), "quick_ok");
  EXPECT_EQ(event_of(client->next_json()), "ack");
  round_trip(*client, 3);

  // The step finishing now is too late: nothing more is answered for message 1.
  Witness witness;
  finish_from_another_thread(session.parked.take(), witness.continuation());
  round_trip(*client, 4);
  EXPECT_FALSE(witness.ran->load());
}

TEST(CompletionLifetime, StepTimeoutIsReadFromTheConfig) {
  const std::string yaml = "server:\n  step_timeout: 2m\n" + kEvents;
  config::LoadResult loaded = config::load_config_text("auth:\n  anonymous: true\n" + yaml,
                                                       "test.yaml", config::Environment({}, false));
  ASSERT_TRUE(loaded.config);
  EXPECT_EQ(loaded.config->server.step_timeout, std::chrono::minutes(2));
  config::LoadResult zero =
      config::load_config_text("auth:\n  anonymous: true\nserver:\n  step_timeout: 0\n",
                               "test.yaml", config::Environment({}, false));
  ASSERT_EQ(zero.errors.size(), 1u);
  EXPECT_NE(config::format_error(zero.errors[0]).find("test.yaml:4:17"), std::string::npos)
      << config::format_error(zero.errors[0]);
}

}  // namespace
}  // namespace dispatch
