// A template param, compiled once at load time into literal pieces and placeholders, then filled
// per message by appending to a caller-provided string.
//
// Placeholders: {$user.id} {$conn.id} {$target.id} {$event.name} {$token.<claim>}, {$room.id}
// (only with CompileOptions::allow_room_id), {.payload}, {.payload.<path>} and the short form
// {.<path>}; path segments are separated by '.', a segment of digits indexes an array.
//
// name and text params: a placeholder becomes a string's own characters, or any other value's
// compact JSON text. `{{` and `}}` are literal braces; any other brace that does not start a
// placeholder is literal too.
//
// json params: the template must be a valid JSON document once filled (checked at compile time,
// errors give the byte offset). Inside a string literal a placeholder is filled as escaped string
// content (objects and arrays as their JSON text, escaped), so values can neither break the
// document nor add keys; there `{{` and `}}` are literal braces. Outside string literals braces
// are JSON syntax, and a placeholder is a whole value that keeps its JSON type. Whitespace between
// JSON tokens is dropped at compile time, so filled documents are compact.
//
// Event-name params: compile with CompileOptions::event_name() (a literal, and not one of the
// names of server frames: welcome, ack, error).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "template/compile_options.h"
#include "template/placeholder.h"
#include "template/template_error.h"
#include "template/template_pieces.h"

namespace dispatch::tmpl {

// A compiled param is the public dispatch::Param a step's factory receives (the accessors
// below are the same, inline, for the engine).
class Template final : public Param {
 public:
  // Returns nullopt and appends to `errors` when the source is not a valid template of that
  // kind: every placeholder mistake (at most kMaxTemplateErrors, template_compiler.h), each with
  // its byte offset.
  static std::optional<Template> compile(std::string_view source, ParamKind kind,
                                         const CompileOptions& options,
                                         std::vector<TemplateError>& errors);

  // Appends the filled text to `out`. When a value is missing, restores `out` to its size before
  // the call, sets *missing_field (if not null) to the placeholder's `field` and returns false.
  // Allocates nothing but the growth of `out`; throws nothing but std::bad_alloc.
  bool fill(TemplateScope& scope, std::string& out, std::string* missing_field) const;

  bool is_literal() const { return pieces_.placeholders.empty(); }
  // The text with braces unescaped (and, for json, whitespace between tokens removed).
  // Valid when is_literal().
  std::string_view literal_text() const { return pieces_.literals; }
  const std::vector<Placeholder>& placeholders() const { return pieces_.placeholders; }
  std::string_view source() const { return source_; }
  ParamKind kind() const { return kind_; }

 private:
  Template(std::string_view source, ParamKind kind, TemplatePieces pieces);

  std::string source_;
  ParamKind kind_;
  TemplatePieces pieces_;
};

// Adds the claims the template reads ({$token.<claim>}), so connections keep only those.
void collect_claims(const Template& compiled, std::set<std::string>& out);
// True when some placeholder reads from `source` (e.g. Source::target_id: the message needs a
// target).
bool uses_source(const Template& compiled, Source source);
bool uses_payload(const Template& compiled);

}  // namespace dispatch::tmpl
