// The `dispatch` binary: the command line with the built-in steps.
#include "dispatch/extension.h"

int main(int argc, char** argv) {
  dispatch::StepRegistry registry;
  dispatch::register_builtin_steps(registry);
  return dispatch::run_command_line(argc, argv, registry);
}
