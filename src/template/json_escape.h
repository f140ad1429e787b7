// Escaping text as the content of a JSON string literal: the public helper, under the name the
// template module has always used.
#pragma once

#include "dispatch/json.h"

namespace dispatch::tmpl {

using ::dispatch::append_json_escaped;

}  // namespace dispatch::tmpl
