#include "steps/builtin_steps.h"

#include "dispatch/extension.h"

namespace dispatch {

void register_builtin_steps(StepRegistry& registry) {
  register_log_action(registry);
  register_membership_actions(registry);
  register_send_actions(registry);
  register_disconnect_action(registry);
  register_webhook_action(registry);
  register_presence_action(registry);
  register_rate_limit_modifier(registry);
  register_secure_modifier(registry);
  register_require_permission_modifier(registry);
  register_member_of_modifier(registry);
  register_match_modifier(registry);
}

}  // namespace dispatch
