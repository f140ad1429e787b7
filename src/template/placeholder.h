// A placeholder of a compiled template, and the interface through which fill() looks values up.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dispatch::tmpl {

enum class Source { user_id, conn_id, target_id, event_name, room_id, claim, payload };

struct Placeholder {
  Source source = Source::payload;
  std::string claim;              // Source::claim: the claim name, verbatim (may contain dots)
  std::vector<std::string> path;  // Source::payload: path segments; empty = the whole payload
  // Source::payload: the same path as an RFC 6901 JSON Pointer ("" = the whole payload,
  // "/a/b/0/c" otherwise), built at compile time so a resolver can call simdjson's
  // at_pointer() without building one per message. A segment of digits is an array index
  // there, and an object key when the value at that point is an object.
  std::string json_pointer;
  std::string field;  // the name reported in a missing_field error: "payload.name", "token.org"
  bool inside_string = false;  // json templates: the placeholder sits inside a string literal
};

// A value found for a placeholder. The text must stay valid until fill() returns.
struct ResolvedValue {
  bool is_string = false;  // true: `text` is the string's unescaped characters
  std::string_view text;   // otherwise: the value's compact JSON text (validated by the caller)
};

// Looks values up for one fill(); implemented by the engine per message, by doubles in tests.
class TemplateScope {
 public:
  virtual ~TemplateScope() = default;
  // Returns false when the value is missing; fill() then reports `placeholder.field`.
  virtual bool resolve(const Placeholder& placeholder, ResolvedValue& out) = 0;
};

}  // namespace dispatch::tmpl
