// Where a scalar's text sits in the config file, for errors that point inside the text (a
// template's mistake at byte 7 of a param): only when the text is written there byte for byte on
// the scalar's line, so that byte k of the text is at the start's column + k. That holds for a
// plain scalar, and a quoted one without escapes, on one line and without ${VAR}; not for block
// scalars, folded lines, escapes or substitutions, which change offsets.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace dispatch::config {

// Where `text` (the scalar's value, after substitution) starts in `yaml`, the file's text, given
// the scalar's mark; nullopt when offsets into the text do not map to columns exactly.
std::optional<SourceMark> verbatim_text_start(std::string_view yaml, const YAML::Mark& mark,
                                              std::string_view text, const std::string& file_name);

}  // namespace dispatch::config
