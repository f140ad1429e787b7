// An example custom action, built exactly like a user's own: `shout` (params: event, text)
// replies to the sender with the text in upper case — after a short timer, to show a step that
// finishes later (as a database call or an HTTP request would). The connection's later
// messages wait for it, so answers stay in order.
#pragma once

#include "dispatch/extension.h"

namespace example {

void register_shout_action(dispatch::StepRegistry& registry);

}  // namespace example
