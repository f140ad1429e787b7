// ${NAME} and ${NAME:-default} inside a config value, replaced from the Environment.
// Applied to each scalar after YAML parsing, so YAML quoting never interferes.
//   ${NAME}            NAME's value; an error when NAME is unset (set but empty is fine)
//   ${NAME:-default}   NAME's value, or `default` when NAME is unset or empty (as in sh)
// A `$` not followed by `{` is literal (so is `$$`); a `${` without a closing `}` or with a
// malformed name is an error rather than being kept silently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/environment.h"

namespace dispatch::config {

struct SubstitutionResult {
  std::string text;
  std::vector<std::string> errors;  // name variables, never their values
};

SubstitutionResult substitute_variables(std::string_view text, const Environment& environment);

}  // namespace dispatch::config
