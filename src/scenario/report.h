// What `dispatch test` prints and writes: a readable report (each scenario ok or FAIL, and for a
// failure the step, the expected frame and every frame the client received), the exit code
// (0 all passed, 1 a scenario failed, 2 a scenario file or its config could not be read), and
// JUnit XML for CI (--junit FILE).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "scenario/runner.h"

namespace dispatch::scenario {

void print_report(std::ostream& out, const std::vector<FileResult>& results);
int exit_code(const std::vector<FileResult>& results);
std::string junit_xml(const std::vector<FileResult>& results);

}  // namespace dispatch::scenario
