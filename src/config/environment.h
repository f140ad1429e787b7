// Where ${NAME} in config.yaml gets its value: the process environment first, then the
// variables of a `.env` file. The `.env` format is the common dotenv subset:
//
//   # comment
//   KEY=value                 (surrounding spaces trimmed; " #" starts a trailing comment)
//   export KEY=value
//   KEY="value with \"escapes\"\n"   (\n \t \r \" \\ understood)
//   KEY='literal value'
//
// No multi-line values and no ${...} expansion inside `.env` (the config does that).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace dispatch::config {

class Environment {
 public:
  // The process environment only.
  Environment() = default;

  // Explicit variables (as if read from a .env file); the process environment is consulted
  // first only when `consult_process_environment` is true. Tests use this.
  Environment(std::map<std::string, std::string> file_variables, bool consult_process_environment);

  // Reads `env_file_path`. A missing file is an error only when `env_file_required`; a line
  // that is not KEY=VALUE is an error with its line and column. Errors are appended to `errors`;
  // the lines that did parse are still used.
  static Environment from_process(const std::string& env_file_path, bool env_file_required,
                                  std::vector<ConfigError>& errors);

  // Parses dotenv text; `file_name` is only used for error positions.
  static std::map<std::string, std::string> parse_dotenv(std::string_view text,
                                                         const std::string& file_name,
                                                         std::vector<ConfigError>& errors);

  // A real environment variable wins over the .env file.
  std::optional<std::string> lookup(std::string_view name) const;
  // Every variable that is set (for "did you mean" hints: slow, use on errors only).
  std::vector<std::string> names() const;

  // `dispatch check --without-secrets` and `dispatch token`: a secret (auth.jwt.secret,
  // auth.event_jwt.secret and their environment fallbacks) whose variable is unset is not an
  // error but a note "not set: NAME (checked without it)", and the config is checked with a
  // placeholder in its place. Never for a config that runs.
  void allow_unset_secrets(bool allow) { unset_secrets_allowed_ = allow; }
  bool unset_secrets_allowed() const { return unset_secrets_allowed_; }

 private:
  std::map<std::string, std::string, std::less<>> file_variables_;
  bool consult_process_environment_ = true;
  bool unset_secrets_allowed_ = false;
};

}  // namespace dispatch::config
