// Loads config.yaml into a checked Config. Every problem is reported (not only the first),
// each with the file:line:col of the node at fault; a result has a config exactly when it has
// no errors. See SPEC.md section 2 for the format and key_table.h for the keys.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/environment.h"
#include "config/key_table.h"

namespace dispatch::config {

struct LoadResult {
  std::optional<Config> config;  // set exactly when `errors` is empty
  // With errors: the config as far as it could be read, so that later checks (the steps of
  // each event) can still report their own problems in the same run.
  std::optional<Config> partial;
  std::vector<ConfigError> errors;
  // E.g. a short secret, at the key that set it; never contain secret values.
  std::vector<ConfigError> warnings;
  // E.g. a secret checked without its variable (Environment::allow_unset_secrets).
  std::vector<ConfigError> notes;
  std::string text;  // the YAML text that was loaded (compared on reload)
};

// Reads and loads `path`; an unreadable file is an error.
LoadResult load_config_file(const std::string& path, const Environment& environment);

// Loads YAML text; `file_name` is used in error positions and as Config::file.
LoadResult load_config_text(std::string_view yaml, const std::string& file_name,
                            const Environment& environment);

// What a config needs to run, beyond being well-formed: at least one event (SPEC section 2: an
// empty file, `{}`, `null` or only comments is an error), and a server.static_dir that is a
// directory (looked up from the working directory). `token` loads configs without this.
void check_runnable(const Config& config, std::vector<ConfigError>& errors);

}  // namespace dispatch::config
