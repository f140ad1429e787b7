// Loading a config whose secrets are not set here (`dispatch check --without-secrets`,
// `dispatch token`): an unset secret variable is a note at the key, never an error, and nothing
// else changes — other unset variables are still errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/substitution.h"
#include "config_test_support.h"

namespace dispatch::config {
namespace {

using test_support::error_lines;
using test_support::load;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

Environment without_secrets(std::map<std::string, std::string> variables = {}) {
  Environment environment(std::move(variables), false);
  environment.allow_unset_secrets(true);
  return environment;
}

std::vector<std::string> note_lines(const LoadResult& result) {
  std::vector<std::string> lines;
  for (const ConfigError& note : result.notes) lines.push_back(format_error(note));
  return lines;
}

constexpr const char* kConfig = R"(
auth:
  jwt:
    secret: ${SESSION_SECRET}
  event_jwt:
    secret: ${EVENT_SECRET}
events:
  e:
    actions:
      - name: _log
        params: ["x"]
)";

TEST(ConfigWithoutSecrets, UnsetSecretsAreNotesAtTheirKey) {
  const LoadResult result = load(kConfig, without_secrets());
  EXPECT_THAT(error_lines(result), IsEmpty());
  EXPECT_THAT(note_lines(result),
              ElementsAre("test.yaml:3:13: not set: SESSION_SECRET (checked without it)",
                          "test.yaml:5:13: not set: EVENT_SECRET (checked without it)"));
  ASSERT_TRUE(result.config);
  // Placeholders: not real secrets, not "equal" to each other, not "short".
  EXPECT_TRUE(holds_unset_variable_placeholder(result.config->auth.jwt.secret));
  ASSERT_TRUE(result.config->auth.event_jwt);
  EXPECT_TRUE(holds_unset_variable_placeholder(result.config->auth.event_jwt->secret));
  EXPECT_THAT(result.warnings, IsEmpty());

  // The same config with the secrets unset, normally: errors naming them.
  const LoadResult normal = load(kConfig, Environment({}, false));
  EXPECT_EQ(normal.errors.size(), 2u);
  EXPECT_THAT(normal.notes, IsEmpty());
}

TEST(ConfigWithoutSecrets, TheSessionSecretFromTheEnvironmentIsANoteToo) {
  const LoadResult result =
      load("events: {e: {actions: [{name: _log, params: [x]}]}}\n", without_secrets());
  EXPECT_THAT(error_lines(result), IsEmpty());
  EXPECT_THAT(note_lines(result),
              ElementsAre("test.yaml: not set: DISPATCH_JWT_SECRET (checked without it)"));
}

TEST(ConfigWithoutSecrets, OtherUnsetVariablesAndSetSecretsAreUnchanged) {
  const LoadResult result = load(R"(
server:
  address: ${LISTEN_ADDRESS}
auth:
  jwt:
    secret: ${SESSION_SECRET}
)",
                                 without_secrets({{"SESSION_SECRET", "short"}}));
  EXPECT_THAT(error_lines(result),
              ElementsAre("test.yaml:2:12: `server.address`: environment variable "
                          "`LISTEN_ADDRESS` is not set (set it in the environment or in .env, or "
                          "write ${LISTEN_ADDRESS:-default})"));
  EXPECT_THAT(result.notes, IsEmpty());
  EXPECT_EQ(result.warnings.size(), 1u);  // the secret that is set is still checked: too short
}

TEST(ConfigWithoutSecrets, OneUnsetVariableForBothSecretsIsStillTheSameSecret) {
  const LoadResult result = load(R"(
auth:
  jwt:
    secret: ${SHARED}
  event_jwt:
    secret: ${SHARED}
)",
                                 without_secrets());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_THAT(result.errors[0].message, ::testing::HasSubstr("equals the session secret"));
}

}  // namespace
}  // namespace dispatch::config
