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
  // With `unset_as_placeholder`: the variables of ${NAME} (no default) that are unset.
  std::vector<std::string> unset_variables;
};

// With `unset_as_placeholder` (a secret, checked without secrets: Environment::
// unset_secrets_allowed), an unset ${NAME} is not an error: it becomes
// unset_variable_placeholder(NAME) and is listed in `unset_variables`.
SubstitutionResult substitute_variables(std::string_view text, const Environment& environment,
                                        bool unset_as_placeholder = false);

// The NAMEs of the well-formed ${NAME} and ${NAME:-default} references in `text`, in order, each
// once (to say where a value came from without repeating the value).
std::vector<std::string> referenced_variables(std::string_view text);

// What an unset ${NAME} of a secret becomes when checked without secrets: never a real secret,
// at least 32 bytes (so it draws no short-secret warning) and different for each name (so two
// secrets from different variables are not "equal").
std::string unset_variable_placeholder(std::string_view name);

// True when `value` holds such a placeholder (a secret that was not set).
bool holds_unset_variable_placeholder(std::string_view value);

}  // namespace dispatch::config
