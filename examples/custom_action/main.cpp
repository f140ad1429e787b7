// A Dispatch server with one extra action: the built-ins plus `shout`.
#include "dispatch/extension.h"
#include "shout_action.h"

int main(int argc, char** argv) {
  dispatch::StepRegistry registry;
  dispatch::register_builtin_steps(registry);
  example::register_shout_action(registry);
  return dispatch::run_command_line(argc, argv, registry);
}
