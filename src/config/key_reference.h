// docs/CONFIG.md, rendered from the loader's own key table (key_table.h) and the built-in steps'
// registry, so the reference cannot drift from what the loader accepts: a unit test
// (tests/unit/config_reference_test.cpp) fails when docs/CONFIG.md differs from this output.
// The prose between the tables lives in key_reference.cpp; the tables do not.
#pragma once

#include <string>

namespace dispatch::config {

// The whole of docs/CONFIG.md as Markdown.
std::string render_config_reference();

}  // namespace dispatch::config
