// How a template param is compiled: its kind and the checks its action asks for.
#pragma once

#include "dispatch/param.h"

namespace dispatch::tmpl {

using ::dispatch::ParamKind;  // declared in the public header: steps declare their params' kinds

struct CompileOptions {
  bool must_be_literal = false;              // placeholders are an error
  bool forbid_reserved_event_names = false;  // a literal "welcome", "ack" or "error" is an error
  bool allow_room_id = false;                // admit {$room.id} (room lifecycle hooks)

  // The rules for an event-name param: a literal that cannot forge a server frame.
  static constexpr CompileOptions event_name() { return {true, true, false}; }
};

}  // namespace dispatch::tmpl
