// Reloading the config while the server runs, for SIGHUP and POST /api/reload alike: the file is
// read and checked again; a config with errors is refused (the errors are logged and returned)
// and the running one stays; one that drops events clients used since the running config was
// installed is refused once (the same file content again within 60 s applies it); otherwise it
// is installed on every loop (each swaps it between two messages) and the config version goes
// up. Live connections stay up either way.
//
// Runs on the control thread (the one that handles signals), never on an event loop: it waits
// for every loop to report the events in use.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "log/log.h"
#include "server/server.h"

namespace dispatch {

class Engine;

log::Level log_level_of(config::LogLevel level);

struct ReloadResult {
  enum class Outcome { applied, invalid, drops_events_in_use };
  Outcome outcome = Outcome::applied;
  uint64_t config_version = 0;      // the version in force after the reload
  std::vector<std::string> errors;  // invalid: every problem, "file:line:col: message"
  std::vector<std::string> warnings;
  std::string events_in_use;  // drops_events_in_use: the events, comma-separated
};

class ConfigReloader {
 public:
  ConfigReloader(const ServeOptions& options, const StepRegistry& registry, Engine& engine,
                 std::shared_ptr<const CompiledConfig> running);

  // `trigger` names it in the log: "SIGHUP" or "POST /api/reload".
  ReloadResult reload(std::string_view trigger);
  const CompiledConfig& running() const { return *running_; }

 private:
  struct RefusedReload {
    std::string text;
    std::chrono::steady_clock::time_point at;
  };

  const ServeOptions& options_;
  const StepRegistry& registry_;
  Engine& engine_;
  std::shared_ptr<const CompiledConfig> running_;
  std::optional<RefusedReload> refused_;
};

}  // namespace dispatch
