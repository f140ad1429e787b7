// The running server: loads and compiles the config, binds the port (once, without
// SO_REUSEPORT, so a port held by anyone else is an error), starts one event loop per thread,
// accepts connections and hands them round-robin to the loops, and handles the signals:
// SIGINT/SIGTERM stop gracefully (close 1001, drain up to shutdown_grace), SIGHUP reloads.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/address.h"
#include "config/config.h"
#include "dispatch/extension.h"
#include "pipeline/compiled_config.h"

namespace dispatch {

struct ServeOptions {
  std::string config_path;  // empty: the embedded development config
  std::string config_text;  // used when config_path is empty
  std::string env_file = ".env";
  bool env_file_required = false;
  // `dispatch check --without-secrets`: a secret whose variable is unset is a note, not an
  // error (config::Environment::allow_unset_secrets). Never for a config that is served.
  bool without_secrets = false;
  // `dispatch serve --address`: replaces server.address of every config loaded (start and
  // SIGHUP), so one config file can run on another port without being edited.
  std::optional<config::ListenAddress> address_override;
};

struct CheckedConfig {
  std::shared_ptr<const CompiledConfig> compiled;  // null when there are errors
  std::vector<config::ConfigError> errors;         // every problem found, in file order
  std::vector<config::ConfigError> warnings;       // at the key at fault, where there is one
  std::vector<config::ConfigError> notes;          // e.g. "not set: X (checked without it)"
  std::string text;  // the config's YAML text as read (a forced reload compares it)
};

// Reads the env file and the config, and compiles it: what `serve`, SIGHUP and `check` share.
CheckedConfig check_config(const ServeOptions& options, const StepRegistry& registry);

// Runs until stopped by a signal; returns the process exit code (0 clean stop, 1 failure).
int serve(const ServeOptions& options, const StepRegistry& registry);

}  // namespace dispatch
