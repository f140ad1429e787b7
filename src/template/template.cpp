#include "template/template.h"

#include <array>
#include <cstdint>
#include <limits>
#include <utility>

#include "template/json_escape.h"
#include "template/template_compiler.h"

namespace dispatch::tmpl {
namespace {

constexpr std::array<std::string_view, 3> kReservedEventNames = {"welcome", "ack", "error"};

// Applies CompileOptions to a compiled template; returns false and sets `error` on a violation.
bool check_options(const TemplatePieces& pieces, const CompileOptions& options,
                   std::string& error) {
  if (options.must_be_literal && !pieces.placeholders.empty()) {
    error = "must be a literal; placeholders are not allowed here (found one for " +
            pieces.placeholders.front().field + ")";
    return false;
  }
  if (options.forbid_reserved_event_names && pieces.placeholders.empty()) {
    for (std::string_view reserved : kReservedEventNames) {
      if (pieces.literals == reserved) {
        error = "event name \"" + std::string(reserved) +
                "\" is reserved for frames the server sends (welcome, ack, error)";
        return false;
      }
    }
  }
  return true;
}

}  // namespace

Template::Template(std::string_view source, ParamKind kind, TemplatePieces pieces)
    : source_(source), kind_(kind), pieces_(std::move(pieces)) {}

std::optional<Template> Template::compile(std::string_view source, ParamKind kind,
                                          const CompileOptions& options,
                                          std::vector<TemplateError>& errors) {
  if (source.size() >= std::numeric_limits<std::uint32_t>::max()) {
    errors.push_back({std::nullopt, "template too long"});
    return std::nullopt;
  }
  TemplatePieces pieces;
  if (!compile_pieces(source, kind, options.allow_room_id, pieces, errors)) return std::nullopt;
  std::string error;
  if (!check_options(pieces, options, error)) {
    errors.push_back({std::nullopt, std::move(error)});
    return std::nullopt;
  }
  return Template(source, kind, std::move(pieces));
}

bool Template::fill(TemplateScope& scope, std::string& out, std::string* missing_field) const {
  const std::size_t start_size = out.size();
  const char* literals = pieces_.literals.data();
  for (const Piece& piece : pieces_.pieces) {
    if (piece.mode == FillMode::literal) {
      out.append(literals + piece.begin, piece.size);
      continue;
    }
    const Placeholder& placeholder = pieces_.placeholders[piece.begin];
    ResolvedValue value;
    if (!scope.resolve(placeholder, value)) {
      out.resize(start_size);
      if (missing_field != nullptr) *missing_field = placeholder.field;
      return false;
    }
    switch (piece.mode) {
      case FillMode::text:
        out.append(value.text);
        break;
      case FillMode::json_string_content:
        // Scalars' JSON text needs no escaping; objects and arrays become escaped JSON text.
        append_json_escaped(out, value.text);
        break;
      case FillMode::json_value:
        if (value.is_string) {
          out += '"';
          append_json_escaped(out, value.text);
          out += '"';
        } else {
          out.append(value.text);
        }
        break;
      case FillMode::literal:
        break;
    }
  }
  return true;
}

void collect_claims(const Template& compiled, std::set<std::string>& out) {
  for (const Placeholder& placeholder : compiled.placeholders()) {
    if (placeholder.source == Source::claim) out.insert(placeholder.claim);
  }
}

bool uses_source(const Template& compiled, Source source) {
  for (const Placeholder& placeholder : compiled.placeholders()) {
    if (placeholder.source == source) return true;
  }
  return false;
}

bool uses_payload(const Template& compiled) {
  return uses_source(compiled, Source::payload);
}

}  // namespace dispatch::tmpl

namespace dispatch {

// Every Param is a tmpl::Template (Param's constructor is private to it).
ParamKind Param::kind() const {
  return static_cast<const tmpl::Template*>(this)->kind();
}
bool Param::is_literal() const {
  return static_cast<const tmpl::Template*>(this)->is_literal();
}
std::string_view Param::literal_text() const {
  return static_cast<const tmpl::Template*>(this)->literal_text();
}
std::string_view Param::source() const {
  return static_cast<const tmpl::Template*>(this)->source();
}

}  // namespace dispatch
