// Registration of the built-in steps, one function per family (see register_builtin_steps).
#pragma once

#include <cstddef>

namespace dispatch {

// A room id, wherever it comes from (a message's `target` or a template filled from the
// payload), is at most this many bytes: longer ones are `bad_message`.
inline constexpr size_t max_room_id_length = 256;

class StepRegistry;

void register_send_actions(StepRegistry& registry);
void register_membership_actions(StepRegistry& registry);
void register_log_action(StepRegistry& registry);
void register_disconnect_action(StepRegistry& registry);
void register_webhook_action(StepRegistry& registry);
void register_presence_action(StepRegistry& registry);
void register_rate_limit_modifier(StepRegistry& registry);
void register_secure_modifier(StepRegistry& registry);
void register_require_permission_modifier(StepRegistry& registry);
void register_member_of_modifier(StepRegistry& registry);
void register_match_modifier(StepRegistry& registry);

}  // namespace dispatch
