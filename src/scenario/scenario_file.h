// A `dispatch test` scenario file (SPEC section 8.1, docs/TESTING-CONFIGS.md): the config it
// tests and its scenarios, each with the clients connected at the start, the events to ignore
// and the steps in order. Reading checks the whole shape and reports every problem as
// file:line:col: message, like the config loader; running it is scenario/runner.h.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace dispatch::scenario {

using config::ConfigError;
using config::SourceMark;

// `config: <embedded>` names the embedded development config instead of a file.
inline constexpr std::string_view embedded_config_name = "<embedded>";

// A client: its name in the scenario and the claims of the token minted for it. `exp`, `nbf`
// and `iat` given as a duration ("10m", "-1s") are relative to the virtual clock when the client
// connects; they are kept apart in `relative_times`.
struct ClientSpec {
  std::string name;
  boost::json::object claims;
  std::vector<std::pair<std::string, std::chrono::milliseconds>> relative_times;
  SourceMark mark;
};

struct Step {
  enum class Kind { send, expect, expect_nothing, expect_close, advance, connect };
  Kind kind = Kind::send;
  SourceMark mark;
  std::string client;  // send, expect*, connect
  std::string text;    // send: the message as the client sends it
  // send with `with_event_token`: the message as an object, whose payload.token the runner sets
  // to an event token with these claims (minted when the step runs, on the virtual clock).
  boost::json::object message;
  std::optional<ClientSpec> event_token;
  boost::json::value expected;                // expect: the subset the next frame must match
  uint16_t close_code = 0;                    // expect_close
  std::optional<std::string> close_reason;    // expect_close: {code, reason}; unset: any reason
  std::chrono::milliseconds by{};             // advance
  ClientSpec connecting;                      // connect
  std::optional<std::string> expect_refusal;  // connect: the refusal code expected
};

struct Scenario {
  std::string name;
  SourceMark mark;
  std::vector<ClientSpec> clients;  // connected when the scenario starts
  std::set<std::string, std::less<>> ignore;
  std::vector<Step> steps;
};

struct ScenarioFile {
  std::string path;
  std::string config;  // as written: relative to the scenario file, or embedded_config_name
  SourceMark config_mark;
  std::vector<Scenario> scenarios;
};

struct ScenarioReadResult {
  std::optional<ScenarioFile> file;  // set exactly when there are no errors
  std::vector<ConfigError> errors;
};

ScenarioReadResult read_scenario_file(const std::string& path);
// `name` is used in error positions.
ScenarioReadResult read_scenario_text(std::string_view yaml, const std::string& name);

}  // namespace dispatch::scenario
