#include "steps/builtin_steps.h"

#include "dispatch/extension.h"

namespace dispatch {

void register_builtin_steps(StepRegistry& registry) {
  register_log_action(registry);
  register_membership_actions(registry);
  register_send_actions(registry);
  register_rate_limit_modifier(registry);
  register_secure_modifier(registry);
}

}  // namespace dispatch
