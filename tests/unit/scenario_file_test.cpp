// Reading `dispatch test` scenario files (scenario/scenario_file.h): YAML values typed as JSON,
// relative token times, and every problem with its file:line:col.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "scenario/scenario_file.h"

namespace dispatch::scenario {
namespace {

TEST(ScenarioFile, ReadsStepsWithJsonTypes) {
  const auto read = read_scenario_text(R"(config: config.yaml
scenarios:
  - name: one
    clients:
      alice: {sub: alice, perms: [post], exp: 10m, level: 3}
    ignore: [user_joined]
    steps:
      - alice: {send: {event: say, id: 1, payload: {n: 1.5, quoted: "2", flag: true, none: null}}}
      - alice: {send: "not json"}
      - alice: {expect: {event: ack, payload: {ref: 1}}}
      - alice: {expect_nothing: true}
      - advance: 1m30s
      - connect: {bob: {sub: bob}, expect_refusal: too_many_connections}
      - bob: {expect_close: 4001}
)",
                                       "s.yaml");
  ASSERT_TRUE(read.file) << (read.errors.empty() ? "" : config::format_error(read.errors[0]));
  const Scenario& scenario = read.file->scenarios.at(0);
  EXPECT_EQ(read.file->config, "config.yaml");
  EXPECT_EQ(scenario.name, "one");
  ASSERT_EQ(scenario.clients.size(), 1u);
  EXPECT_EQ(boost::json::serialize(scenario.clients[0].claims),
            R"({"sub":"alice","perms":["post"],"level":3})");
  ASSERT_EQ(scenario.clients[0].relative_times.size(), 1u);
  EXPECT_EQ(scenario.clients[0].relative_times[0].first, "exp");
  EXPECT_EQ(scenario.clients[0].relative_times[0].second, std::chrono::minutes(10));
  EXPECT_TRUE(scenario.ignore.contains("user_joined"));
  ASSERT_EQ(scenario.steps.size(), 7u);
  EXPECT_EQ(scenario.steps[0].text,
            R"({"event":"say","id":1,"payload":{"n":1.5E0,"quoted":"2","flag":true,"none":null}})");
  EXPECT_EQ(scenario.steps[0].mark.line, 8);
  EXPECT_EQ(scenario.steps[1].text, "not json");
  EXPECT_EQ(boost::json::serialize(scenario.steps[2].expected),
            R"({"event":"ack","payload":{"ref":1}})");
  EXPECT_EQ(scenario.steps[3].kind, Step::Kind::expect_nothing);
  EXPECT_EQ(scenario.steps[4].by, std::chrono::seconds(90));
  EXPECT_EQ(scenario.steps[5].client, "bob");
  EXPECT_EQ(scenario.steps[5].expect_refusal, "too_many_connections");
  EXPECT_EQ(scenario.steps[6].close_code, 4001);
}

TEST(ScenarioFile, ReportsEveryProblemWithItsPosition) {
  const auto read = read_scenario_text(R"(config: config.yaml
scenarios:
  - name: broken
    clients: {alice: {sub: alice}}
    stpes: []
    steps:
      - alice: {expect_close: hello}
      - alice: {send: 1, expect: {}}
      - bob: {send: {event: x}}
      - advance: -1s
)",
                                       "s.yaml");
  EXPECT_FALSE(read.file);
  std::vector<std::string> lines;
  for (const auto& error : read.errors) lines.push_back(config::format_error(error));
  ASSERT_EQ(lines.size(), 5u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[0].substr(0, 13), "s.yaml:5:12: ");  // unknown key stpes
  EXPECT_NE(lines[0].find("stpes"), std::string::npos);
  EXPECT_EQ(lines[1].substr(0, 13), "s.yaml:7:31: ");
  EXPECT_NE(lines[1].find("close code"), std::string::npos);
  EXPECT_EQ(lines[2].substr(0, 13), "s.yaml:8:16: ");
  EXPECT_EQ(lines[3].substr(0, 12), "s.yaml:9:9: ");
  EXPECT_NE(lines[3].find("unknown client `bob`"), std::string::npos);
  EXPECT_EQ(lines[4].substr(0, 14), "s.yaml:10:18: ");
}

TEST(ScenarioFile, InvalidYamlAndMissingKeys) {
  auto read = read_scenario_text("config: [unclosed\n", "s.yaml");
  ASSERT_EQ(read.errors.size(), 1u);
  EXPECT_NE(read.errors[0].message.find("invalid YAML"), std::string::npos);

  read = read_scenario_text("scenarios: []\n", "s.yaml");
  ASSERT_EQ(read.errors.size(), 1u);
  EXPECT_NE(read.errors[0].message.find("no `config`"), std::string::npos);

  read = read_scenario_file("/nonexistent/dispatch-scenarios.yaml");
  ASSERT_EQ(read.errors.size(), 1u);
  EXPECT_EQ(read.errors[0].message, "no such file");
}

}  // namespace
}  // namespace dispatch::scenario
