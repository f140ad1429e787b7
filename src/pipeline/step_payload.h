// What MessageRun and HookRun do with a payload a step hands over: debug builds check that it is
// valid JSON, so a custom step that builds it by hand and gets it wrong fails with `internal`
// instead of sending a broken frame. Release builds trust it (a filled json param is valid by
// construction).
#pragma once

#include <string_view>

#include "dispatch/extension.h"
#include "frames/server_frames.h"

namespace dispatch {

inline bool accept_step_payload([[maybe_unused]] StepContext& context,
                                [[maybe_unused]] std::string_view payload_json) {
#ifndef NDEBUG
  if (!is_json_document(payload_json)) {
    context.fail(ErrorCode::internal, "a step's payload is not a JSON document");
    return false;
  }
#endif
  return true;
}

}  // namespace dispatch
