// Reads an event's `modifiers:` or `actions:` list. Each step is a mapping:
//   - name: _notify_room                  required, non-empty
//     params: ["new_message", '{"a": 1}'] optional list of scalars, kept as text
//     scope: node                         any other key: kept as text in StepSpec::options
// A param that YAML parsed as a mapping or list (often unquoted JSON) is an error, not
// silently re-serialised. What a step's name, params and options mean is decided later, by
// the step's own factory.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/value_reader.h"

namespace dispatch::config {

std::optional<std::vector<StepSpec>> read_steps(ValueReader& reader, const YAML::Node& node,
                                                const std::string& path);

}  // namespace dispatch::config
