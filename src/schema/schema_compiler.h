// Compiles an event's `schema:` (kept as written, config::RawNode) into a Schema, once at load.
// Every problem is reported as a ConfigError at the offending key or value, so `dispatch check`
// shows file:line:col: an unknown keyword (with a "did you mean"), a keyword value of the wrong
// type, minLength > maxLength or minimum > maximum, a keyword that cannot apply to the declared
// type (`maxLength` under `type: integer`), an enum value of another type, a `required` name that
// `additionalProperties: false` forbids (a `required` name not under `properties` is otherwise
// fine, as in JSON Schema), and a schema beyond schema_limits.
//
// In YAML, unquoted true/false/null and numbers are JSON booleans/null/numbers (in `enum`
// too); quote them to mean strings. `type: null` (quoted or not) is the null type.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "schema/schema.h"

namespace dispatch::schema {

// `path` names the schema in messages, e.g. "events.send_message.schema".
std::optional<Schema> compile_schema(const config::RawNode& raw, const std::string& path,
                                     std::vector<config::ConfigError>& errors);

}  // namespace dispatch::schema
