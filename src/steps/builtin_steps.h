// Registration of the built-in steps, one function per family (see register_builtin_steps).
#pragma once

namespace dispatch {

class StepRegistry;

void register_send_actions(StepRegistry& registry);
void register_membership_actions(StepRegistry& registry);
void register_log_action(StepRegistry& registry);
void register_rate_limit_modifier(StepRegistry& registry);
void register_secure_modifier(StepRegistry& registry);

}  // namespace dispatch
