// The lints of `dispatch check` (SPEC section 8.2): configs that load and run, but that are most
// likely not what their author meant — a room anyone may post to, a broadcast nobody limits, a
// room policy no `_join` reaches, a `secure` claim check no token passes. They are warnings
// (errors with `dispatch check --strict`), each at the file:line:col of the step, param or key
// at fault, each saying how to fix it and how to silence it: `lint_ignore: [<lint name>]` in the
// event or room policy the warning names.
//
// The lints read the loaded Config only (steps by their built-in names and params as written),
// so they cost nothing when a config is served: only `dispatch check` runs them.
#pragma once

#include <string_view>
#include <vector>

#include "config/config.h"

namespace dispatch::config {

struct LintInfo {
  std::string_view name;     // what `lint_ignore:` lists
  std::string_view summary;  // one line, for docs and the unknown-name error
};

// Every lint, in the order of SPEC section 8.2.
const std::vector<LintInfo>& lint_catalogue();

// True when `name` is a lint of the catalogue.
bool is_lint_name(std::string_view name);

// The warnings for `config`, in file order, without those its `lint_ignore:` lists silence.
std::vector<ConfigError> lint_config(const Config& config);

}  // namespace dispatch::config
