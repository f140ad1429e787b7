// The Environment (.env parsing, process environment first) and ${VAR} substitution.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "config/environment.h"
#include "config/substitution.h"

namespace dispatch::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> formatted(const std::vector<ConfigError>& errors) {
  std::vector<std::string> lines;
  for (const ConfigError& error : errors) lines.push_back(format_error(error));
  return lines;
}

TEST(ConfigDotenv, ParsesTheCommonForms) {
  std::vector<ConfigError> errors;
  const auto variables = Environment::parse_dotenv(
      "# a comment\n"
      "\n"
      "PLAIN=value\n"
      "SPACED = spaced value  \n"
      "export EXPORTED=yes\n"
      "DOUBLE=\"a \\\"quoted\\\" # value\\nnext\"\n"
      "SINGLE='literal \\n ${X} # kept'\n"
      "TRAILING=value # a comment\n"
      "HASH=abc#def\n"
      "EMPTY=\n"
      "EMPTY_QUOTED=\"\"\n"
      "WINDOWS=crlf\r\n"
      "   INDENTED=1\n"
      "EQUALS=a=b=c\n"
      "QUOTED_COMMENT=\"x\" # comment\n"
      "PLAIN=later wins\n"
      "export=not a prefix here",
      ".env", errors);
  EXPECT_THAT(formatted(errors), IsEmpty());
  EXPECT_EQ(variables, (std::map<std::string, std::string>{
                           {"PLAIN", "later wins"},
                           {"SPACED", "spaced value"},
                           {"EXPORTED", "yes"},
                           {"DOUBLE", "a \"quoted\" # value\nnext"},
                           {"SINGLE", "literal \\n ${X} # kept"},
                           {"TRAILING", "value"},
                           {"HASH", "abc#def"},
                           {"EMPTY", ""},
                           {"EMPTY_QUOTED", ""},
                           {"WINDOWS", "crlf"},
                           {"INDENTED", "1"},
                           {"EQUALS", "a=b=c"},
                           {"QUOTED_COMMENT", "x"},
                           {"export", "not a prefix here"},
                       }));
}

TEST(ConfigDotenv, MalformedLinesAreErrorsWithTheirPositionAndNeverTheValue) {
  std::vector<ConfigError> errors;
  const auto variables = Environment::parse_dotenv(
      "GOOD=1\n"
      "just some words\n"
      "1ABC=x\n"
      "KEY value\n"
      "OPEN=\"never closed secret\n"
      "  SINGLE='also open\n"
      "AFTER=\"x\" trailing-secret\n"
      "=value\n"
      "export \n"
      "ALSO_GOOD=2\n",
      "app.env", errors);
  EXPECT_THAT(
      formatted(errors),
      ElementsAre(
          "app.env:2:6: expected `=` after `just` (lines are KEY=VALUE)",
          "app.env:3:1: expected KEY=VALUE, where KEY is letters, digits and _ (not starting "
          "with a digit)",
          "app.env:4:5: expected `=` after `KEY` (lines are KEY=VALUE)",
          "app.env:5:6: the value of `OPEN` has no closing double quote (values must fit on one "
          "line)",
          "app.env:6:10: the value of `SINGLE` has no closing single quote (values must fit on "
          "one line)",
          "app.env:7:11: unexpected text after the quoted value of `AFTER`",
          "app.env:8:1: expected KEY=VALUE, where KEY is letters, digits and _ (not starting "
          "with a digit)",
          "app.env:9:8: expected KEY=VALUE, where KEY is letters, digits and _ (not starting "
          "with a digit)"));
  for (const ConfigError& error : errors) {
    EXPECT_EQ(error.message.find("secret"), std::string::npos) << error.message;
  }
  // The good lines still count.
  EXPECT_EQ(variables, (std::map<std::string, std::string>{{"GOOD", "1"}, {"ALSO_GOOD", "2"}}));
}

class ConfigEnvironmentFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("dispatch_config_env_test_" + std::to_string(::getpid()) + ".env");
  }
  void TearDown() override {
    std::filesystem::remove(path_);
    unsetenv("DISPATCH_ENV_TEST_BOTH");
  }
  void write(const std::string& text) {
    std::ofstream file(path_);
    file << text;
  }
  std::filesystem::path path_;
};

TEST_F(ConfigEnvironmentFile, TheProcessEnvironmentBeatsTheFile) {
  write("DISPATCH_ENV_TEST_BOTH=from-file\nDISPATCH_ENV_TEST_FILE_ONLY=file-only\n");
  ASSERT_EQ(setenv("DISPATCH_ENV_TEST_BOTH", "from-process", 1), 0);
  std::vector<ConfigError> errors;
  const Environment environment = Environment::from_process(path_.string(), true, errors);
  EXPECT_THAT(formatted(errors), IsEmpty());
  EXPECT_EQ(environment.lookup("DISPATCH_ENV_TEST_BOTH"), "from-process");
  EXPECT_EQ(environment.lookup("DISPATCH_ENV_TEST_FILE_ONLY"), "file-only");
  EXPECT_EQ(environment.lookup("DISPATCH_ENV_TEST_NEITHER"), std::nullopt);
  EXPECT_TRUE(environment.lookup("PATH").has_value());
}

TEST_F(ConfigEnvironmentFile, AMissingFileIsAnErrorOnlyWhenRequired) {
  std::vector<ConfigError> errors;
  const Environment optional = Environment::from_process(path_.string(), false, errors);
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_TRUE(optional.lookup("PATH").has_value());

  Environment::from_process(path_.string(), true, errors);
  EXPECT_THAT(formatted(errors),
              ElementsAre(path_.string() +
                          ": cannot read the environment file: No such file or directory"));
}

// A .env that exists but is a directory or a FIFO is an error even when optional, and reading
// a FIFO nobody writes to returns at once instead of blocking the start (or a reload) forever.
TEST_F(ConfigEnvironmentFile, ADirectoryOrAFifoIsAnErrorNeverAHang) {
  std::filesystem::create_directory(path_);
  std::vector<ConfigError> errors;
  Environment::from_process(path_.string(), false, errors);
  EXPECT_THAT(formatted(errors),
              ElementsAre(path_.string() + ": cannot read the environment file: it is a "
                                           "directory, not a file"));
  std::filesystem::remove(path_);

  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  errors.clear();
  Environment::from_process(path_.string(), false, errors);
  EXPECT_THAT(formatted(errors),
              ElementsAre(path_.string() + ": cannot read the environment file: it is a FIFO "
                                           "(named pipe), not a regular file"));
}

TEST_F(ConfigEnvironmentFile, ErrorsInTheFileNameTheFile) {
  write("OK=1\nbroken\n");
  std::vector<ConfigError> errors;
  const Environment environment = Environment::from_process(path_.string(), false, errors);
  EXPECT_THAT(formatted(errors),
              ElementsAre(path_.string() + ":2:7: expected `=` after `broken` (lines are "
                                           "KEY=VALUE)"));
  EXPECT_EQ(environment.lookup("OK"), "1");
}

TEST(ConfigEnvironment, ExplicitVariablesWithOrWithoutTheProcessEnvironment) {
  ASSERT_EQ(setenv("DISPATCH_ENV_TEST_EXPLICIT", "process", 1), 0);
  const Environment isolated({{"DISPATCH_ENV_TEST_EXPLICIT", "map"}}, false);
  const Environment layered({{"DISPATCH_ENV_TEST_EXPLICIT", "map"}, {"ONLY_IN_MAP", "m"}}, true);
  EXPECT_EQ(isolated.lookup("DISPATCH_ENV_TEST_EXPLICIT"), "map");
  EXPECT_EQ(isolated.lookup("PATH"), std::nullopt);
  EXPECT_EQ(layered.lookup("DISPATCH_ENV_TEST_EXPLICIT"), "process");
  EXPECT_EQ(layered.lookup("ONLY_IN_MAP"), "m");
  unsetenv("DISPATCH_ENV_TEST_EXPLICIT");
  EXPECT_EQ(Environment().lookup("DISPATCH_ENV_TEST_EXPLICIT"), std::nullopt);
}

TEST(ConfigSubstitution, ReplacesReferencesAndKeepsEverythingElse) {
  const Environment environment({{"NAME", "world"}, {"EMPTY", ""}, {"PORT", "80"}}, false);
  auto substituted = [&](std::string_view text) {
    SubstitutionResult result = substitute_variables(text, environment);
    EXPECT_THAT(result.errors, IsEmpty()) << text;
    return result.text;
  };
  EXPECT_EQ(substituted("hello ${NAME}!"), "hello world!");
  EXPECT_EQ(substituted("${NAME}${NAME}"), "worldworld");
  EXPECT_EQ(substituted("${EMPTY}"), "");  // set but empty is not an error
  EXPECT_EQ(substituted("${EMPTY:-fallback}"), "fallback");
  EXPECT_EQ(substituted("${MISSING:-fall back: with {braces}"), "fall back: with {braces");
  EXPECT_EQ(substituted("${MISSING:-}"), "");
  EXPECT_EQ(substituted("${NAME:-unused}"), "world");
  EXPECT_EQ(substituted(":${PORT}"), ":80");
  EXPECT_EQ(substituted("$5 and $$ and $NAME and {$user.id} and $"),
            "$5 and $$ and $NAME and "
            "{$user.id} and $");
  EXPECT_EQ(substituted("$${NAME}"), "$world");
  EXPECT_EQ(substituted("no references"), "no references");
  EXPECT_EQ(substituted("${NAME:-${OTHER}}"), "world}");  // no nesting: the first } ends it
}

TEST(ConfigSubstitution, AnUnsetVariableSuggestsASetOneWithASimilarName) {
  const Environment environment({{"APP_JWT_SECRET", "secret-value"}, {"PORT", "80"}}, false);
  EXPECT_THAT(substitute_variables("${APP_JWT_SECRT}", environment).errors,
              ElementsAre("environment variable `APP_JWT_SECRT` is not set (set it in the "
                          "environment or in .env, or write ${APP_JWT_SECRT:-default}); did you "
                          "mean `APP_JWT_SECRET`, which is set?"));
  EXPECT_THAT(substitute_variables("${HOST}", environment).errors,
              ElementsAre(::testing::Not(::testing::HasSubstr("did you mean"))));
}

TEST(ConfigSubstitution, ProblemsNameTheVariableButNotValues) {
  const Environment environment({{"SET", "secret-value"}}, false);
  EXPECT_THAT(substitute_variables("a ${MISSING} b ${ALSO_MISSING}", environment).errors,
              ElementsAre("environment variable `MISSING` is not set (set it in the environment "
                          "or in .env, or write ${MISSING:-default})",
                          "environment variable `ALSO_MISSING` is not set (set it in the "
                          "environment or in .env, or write ${ALSO_MISSING:-default})"));
  EXPECT_THAT(substitute_variables("${SET", environment).errors,
              ElementsAre("`${` has no closing `}` (write ${NAME} or ${NAME:-default})"));
  for (const char* malformed : {"${}", "${1ABC}", "${A-B}", "${SET:default}", "${ SET }"}) {
    const SubstitutionResult result = substitute_variables(malformed, environment);
    EXPECT_THAT(result.errors,
                ElementsAre("`${` must be followed by a variable name (letters, digits, _) and "
                            "`}` or `:-default}`"))
        << malformed;
    EXPECT_EQ(result.text.find("secret-value"), std::string::npos);
  }
}

}  // namespace
}  // namespace dispatch::config
