// The `dispatch test` runner (scenario/runner.h) with steps that finish later: one whose
// Completion fires from a timer of the loop (as examples/custom_action's `shout`), which a
// scenario waits for, and one that never finishes, which `advance` past server.step_timeout
// answers `internal` as the server would.
#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/extension.h"
#include "scenario/runner.h"

namespace dispatch::scenario {
namespace {

// Never finishes: its Completions are kept (not dropped) until the test ends.
std::vector<std::shared_ptr<Completion>>& stalled() {
  static std::vector<std::shared_ptr<Completion>> completions;
  return completions;
}

class Stall final : public Step {
 public:
  StepStatus run(StepContext& ctx) override {
    stalled().push_back(std::make_shared<Completion>(ctx.defer()));
    return StepStatus::pending;
  }
};

// Replies `later` when a timer of the loop fires (a millisecond of real time).
class Later final : public Step {
 public:
  StepStatus run(StepContext& ctx) override {
    auto timer =
        std::make_shared<boost::asio::steady_timer>(ctx.executor(), std::chrono::milliseconds(1));
    auto completion = std::make_shared<Completion>(ctx.defer());
    timer->async_wait([timer, completion](const boost::system::error_code&) {
      completion->done([](StepContext& again) {
        again.reply("later", "{}");
        return StepStatus::done;
      });
    });
    return StepStatus::pending;
  }
};

StepRegistry registry_with_slow_steps() {
  StepRegistry registry;
  register_builtin_steps(registry);
  for (const char* name : {"stall", "later"}) {
    StepDefinition definition;
    definition.name = name;
    definition.kind = StepKind::action;
    const bool stall = std::string(name) == "stall";
    definition.factory = [stall](StepBuildContext&) -> std::unique_ptr<Step> {
      if (stall) return std::make_unique<Stall>();
      return std::make_unique<Later>();
    };
    registry.add(std::move(definition));
  }
  return registry;
}

class ScenarioRunnerTest : public ::testing::Test {
 protected:
  ScenarioRunnerTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("dispatch-scenario-runner-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    write("config.yaml", R"(server:
  step_timeout: 1s
auth:
  jwt:
    secret: "scenario-runner-secret-0123456789abcdef"
events:
  stall:
    actions:
      - {name: stall}
  later:
    actions:
      - {name: later}
)");
  }
  ~ScenarioRunnerTest() override {
    stalled().clear();
    std::filesystem::remove_all(dir_);
  }

  std::string write(const std::string& name, const std::string& text) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  FileResult run(const std::string& steps) {
    const std::string path = write("s.yaml",
                                   "config: config.yaml\nscenarios:\n  - name: one\n"
                                   "    clients: {alice: {sub: alice}}\n    steps:\n" +
                                       steps);
    return run_scenario_file(path, RunOptions{}, registry_);
  }

  std::filesystem::path dir_;
  StepRegistry registry_ = registry_with_slow_steps();
};

TEST_F(ScenarioRunnerTest, AStepThatFinishesLaterIsWaitedFor) {
  const FileResult result = run(R"(      - alice: {send: {event: later, id: 1}}
      - alice: {expect: {event: later}}
      - alice: {expect: {event: ack, payload: {ref: 1}}}
)");
  ASSERT_TRUE(result.errors.empty());
  ASSERT_EQ(result.scenarios.size(), 1u);
  EXPECT_TRUE(result.scenarios[0].passed) << result.scenarios[0].failure << "\n"
                                          << result.scenarios[0].details;
}

TEST_F(ScenarioRunnerTest, AdvancePastStepTimeoutAnswersInternal) {
  const FileResult result = run(R"(      - alice: {send: {event: stall, id: 1}}
      - alice: {expect_nothing: true}
      - advance: 999ms
      - alice: {expect_nothing: true}
      - advance: 1ms
      - alice: {expect: {event: error, payload: {code: internal, ref: 1}}}
)");
  ASSERT_TRUE(result.errors.empty());
  ASSERT_EQ(result.scenarios.size(), 1u);
  EXPECT_TRUE(result.scenarios[0].passed) << result.scenarios[0].failure << "\n"
                                          << result.scenarios[0].details;
}

TEST_F(ScenarioRunnerTest, WithoutAdvanceTheStalledStepIsNotAnswered) {
  const FileResult result = run(R"(      - alice: {send: {event: stall, id: 1}}
      - alice: {expect: {event: error}}
)");
  ASSERT_EQ(result.scenarios.size(), 1u);
  EXPECT_FALSE(result.scenarios[0].passed);
  EXPECT_NE(result.scenarios[0].failure.find("alice: expect: no frame came"), std::string::npos)
      << result.scenarios[0].failure;
}

}  // namespace
}  // namespace dispatch::scenario
