// Checks a payload (a simdjson DOM element) against a compiled Schema. The first violation in
// document order is returned, with the JSON Pointer of the failing value (for `required`: of the
// missing member; for `additionalProperties`: of the member not allowed), the keyword that
// failed and a message in plain words that never quotes the client's strings.
//
// Cost: one pass over the parts of the payload the schema describes (members without a schema
// are only looked up, never walked); recursion follows the schema, so its depth is at most
// schema_limits.max_depth whatever the payload's nesting. Nothing is allocated unless the
// payload fails.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>

#include "schema/schema.h"

namespace dispatch::schema {

struct SchemaViolation {
  std::string path;       // JSON Pointer into the payload; "" = the payload itself
  std::string_view rule;  // the keyword that failed: "type", "maxLength", "required", ...
  std::string message;    // "payload/message: expected at most 2000 characters, got 2001"
};

std::optional<SchemaViolation> validate(const Schema& schema, simdjson::dom::element payload);

// A message without `payload` is checked as if its payload were null.
std::optional<SchemaViolation> validate_missing_payload(const Schema& schema);

// The number of Unicode code points in valid UTF-8 (what minLength/maxLength count).
size_t code_point_count(std::string_view utf8);

}  // namespace dispatch::schema
