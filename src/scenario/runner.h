// Runs a scenario file (scenario/scenario_file.h) against the real pipeline: per scenario a
// fresh Engine with one EventLoop whose thread never starts and whose clock is manual, the
// config loaded and compiled as `dispatch serve`/`check` do, clients admitted by the server's
// own admission code (decide_upgrade + admit_session) with tokens minted in process, and after
// every step the loop's io_context run by hand until nothing is ready, so cross-loop tasks and
// completions run. Nothing waits: what a step's message caused is in the clients' queues when
// the next step reads them, and `advance` moves the clock and fires what became due. (The one
// exception, bounded: a step that finishes later is waited for in real time, at most
// min(server.step_timeout, 5 s).)
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "dispatch/extension.h"

namespace dispatch::scenario {

struct RunOptions {
  std::string env_file = ".env";
  bool env_file_required = false;
  std::string embedded_config_text;  // what `config: <embedded>` names
};

struct ScenarioResult {
  std::string name;
  config::SourceMark mark;
  bool passed = false;
  std::string failure;  // one line: where and what
  std::string details;  // the expected frame, every frame the client received
};

struct FileResult {
  std::string path;
  // The scenario file or its config could not be read: nothing ran (exit code 2).
  std::vector<config::ConfigError> errors;
  std::vector<ScenarioResult> scenarios;
};

FileResult run_scenario_file(const std::string& path, const RunOptions& options,
                             const StepRegistry& registry);

}  // namespace dispatch::scenario
