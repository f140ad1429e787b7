#include "template/template_compiler.h"

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "template/json_syntax.h"
#include "template/placeholder_suggestion.h"
#include "template/placeholder_syntax.h"

namespace dispatch::tmpl {
namespace {

bool is_json_whitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// One pass over the source. Literal bytes accumulate in pieces.literals and become one literal
// piece when a placeholder (or the end) is reached. A placeholder mistake is reported and the
// pass goes on after it, so that one check reports every mistake.
//
// For json templates it also builds a probe: the document as it would be with `null` for every
// whole-value placeholder and nothing for placeholders inside strings, with whitespace kept.
// Checking the probe checks every possible filling, since string content is escaped and whole
// values are valid JSON. The emitted literals leave out whitespace between tokens, so filled
// documents are compact. A placeholder in error counts as a valid one there, except an
// unterminated one outside strings: its extent is unknown, so the probe is not checked.
class TemplateCompiler {
 public:
  TemplateCompiler(std::string_view source, bool allow_room_id, TemplatePieces& pieces,
                   std::vector<TemplateError>& errors)
      : source_(source),
        allow_room_id_(allow_room_id),
        pieces_(pieces),
        errors_(errors),
        errors_before_(errors.size()) {}

  bool compile_plain() {
    std::size_t i = 0;
    while (i < source_.size()) {
      const char c = source_[i];
      if ((c == '{' || c == '}') && next_is(i, c)) {  // {{ and }} stand for one brace
        add_literal(c);
        i += 2;
      } else if (c == '{' && starts_placeholder(source_, i)) {
        if (!add_placeholder(i, FillMode::text, false, i)) {
          add_literal(c);  // unterminated: go on after its brace
          ++i;
        }
      } else if (c == '{' && is_misspelt_placeholder(i)) {
        report_misspelt_placeholder(i, i);
      } else {  // anything else, including a lone brace, is literal
        add_literal(c);
        ++i;
      }
    }
    flush_literal();
    return finish();
  }

  bool compile_json() {
    bool in_string = false;
    std::size_t i = 0;
    while (i < source_.size()) {
      const char c = source_[i];
      if (in_string) {
        if (c == '\\') {  // an escape: copy it whole, so `\"` does not end the string
          const std::size_t length = i + 1 < source_.size() ? 2 : 1;
          for (std::size_t k = 0; k < length; ++k) add_json_literal(source_[i + k], i + k);
          i += length;
        } else if ((c == '{' || c == '}') && next_is(i, c)) {
          add_json_literal(c, i);
          i += 2;
        } else if (c == '{' && starts_placeholder(source_, i)) {
          if (!add_placeholder(i, FillMode::json_string_content, true, i)) {
            add_json_literal(c, i);  // unterminated: go on after its brace, still in the string
            ++i;
          }
        } else if (c == '{' && is_misspelt_placeholder(i)) {
          report_misspelt_placeholder(i, i);
        } else {
          if (c == '"') in_string = false;
          add_json_literal(c, i);
          ++i;
        }
      } else if (c == '{' && starts_placeholder(source_, i)) {
        const std::size_t brace = i;
        if (add_placeholder(i, FillMode::json_value, false, i)) {
          add_null_probe(brace);
        } else {
          probe_is_meaningful_ = false;
          ++i;
        }
      } else if (c == '{' && is_misspelt_placeholder(i)) {
        add_null_probe(i);
        report_misspelt_placeholder(i, i);
      } else if (is_json_whitespace(c)) {
        add_probe(c, i);
        ++i;
      } else {
        if (c == '"') in_string = true;
        add_json_literal(c, i);
        ++i;
      }
    }
    flush_literal();
    if (!has_errors() || probe_is_meaningful_) check_probe();
    return finish();
  }

 private:
  bool next_is(std::size_t i, char c) const {
    return i + 1 < source_.size() && source_[i + 1] == c;
  }

  void report(std::optional<std::size_t> offset, std::string message) {
    if (errors_.size() - errors_before_ < kMaxTemplateErrors) {
      errors_.push_back({offset, std::move(message)});
    } else if (errors_left_out_++ == 0) {
      first_left_out_ = offset;
    }
  }

  bool has_errors() const { return errors_.size() != errors_before_; }

  // Adds the error that says how many were left out, at the first of them, if any; true when
  // there was no error.
  bool finish() {
    if (errors_left_out_ > 0) {
      std::string message = "and ";
      message.append(std::to_string(errors_left_out_))
          .append(errors_left_out_ == 1 ? " more mistake" : " more mistakes")
          .append(" in this template, the first here");
      errors_.push_back({first_left_out_, std::move(message)});
    }
    return !has_errors();
  }

  bool is_misspelt_placeholder(std::size_t brace) const {
    return find_misspelt_placeholder(source_, brace).has_value();
  }

  // Reports the misspelt placeholder whose `{` is at `brace`; sets `next` past its `}`.
  void report_misspelt_placeholder(std::size_t brace, std::size_t& next) {
    const std::optional<MisspeltPlaceholder> misspelt = find_misspelt_placeholder(source_, brace);
    // Appended, not chains of operator+: GCC 12 at -O3 warns (-Wrestrict) on those.
    std::string message = "`";
    message.append(misspelt->written).append("` is not a placeholder (");
    if (misspelt->spaced) message.append("a placeholder holds no spaces; ");
    message.append("write {{ for a literal brace)");
    message.append(placeholder_hint(misspelt->meant_body, allow_room_id_));
    report(brace, std::move(message));
    next = misspelt->end + 1;
  }

  void add_literal(char c) { pieces_.literals += c; }

  void add_probe(char c, std::size_t source_offset) {
    probe_ += c;
    probe_source_offsets_.push_back(source_offset);
  }

  // What a whole-value placeholder at `brace` stands for in the probe.
  void add_null_probe(std::size_t brace) {
    for (char p : std::string_view("null")) add_probe(p, brace);
  }

  void add_json_literal(char c, std::size_t source_offset) {
    add_literal(c);
    add_probe(c, source_offset);
  }

  void flush_literal() {
    const auto end = static_cast<std::uint32_t>(pieces_.literals.size());
    if (end == literal_start_) return;
    pieces_.pieces.push_back(Piece{FillMode::literal, literal_start_, end - literal_start_});
    literal_start_ = end;
  }

  // Adds the placeholder whose `{` is at `brace`, or reports what is wrong with it. Returns false
  // when it is unterminated; otherwise sets `next` past its `}`.
  bool add_placeholder(std::size_t brace, FillMode mode, bool inside_string, std::size_t& next) {
    const std::size_t end = find_placeholder_end(source_, brace);
    if (end == std::string_view::npos) {
      std::size_t stop = brace + 1;
      while (stop < source_.size() && stop - brace < 40 && source_[stop] != '}' &&
             static_cast<unsigned char>(source_[stop]) > 0x20 && source_[stop] != '"') {
        ++stop;
      }
      std::string message = "unterminated placeholder ";
      message.append(source_.substr(brace, stop - brace))
          .append(
              ": a placeholder ends with } and holds no spaces or quotes (write {{ for a "
              "literal {)");
      report(brace, std::move(message));
      return false;
    }
    next = end + 1;
    const std::string_view body = source_.substr(brace + 1, end - brace - 1);
    std::string parse_error;
    std::optional<Placeholder> placeholder = parse_placeholder(body, allow_room_id_, parse_error);
    if (!placeholder) {
      // `{$token.}` says itself what is missing; everything else gets a suggestion.
      const bool says_what_is_missing = body == "$token.";
      report(brace, says_what_is_missing ? parse_error
                                         : parse_error + placeholder_hint(body, allow_room_id_));
      return true;
    }
    placeholder->inside_string = inside_string;
    flush_literal();
    const auto index = static_cast<std::uint32_t>(pieces_.placeholders.size());
    pieces_.placeholders.push_back(std::move(*placeholder));
    pieces_.pieces.push_back(Piece{mode, index, 0});
    return true;
  }

  void check_probe() {
    if (std::optional<JsonSyntaxError> syntax = find_json_syntax_error(probe_)) {
      const std::size_t offset = syntax->offset < probe_source_offsets_.size()
                                     ? probe_source_offsets_[syntax->offset]
                                     : source_.size();
      report(offset, "not a valid JSON document: " + syntax->message);
      return;
    }
    // The grammar check above does not look at UTF-8; simdjson checks everything.
    simdjson::dom::parser parser;
    const simdjson::error_code code = parser.parse(simdjson::padded_string(probe_)).error();
    if (code != simdjson::SUCCESS) {
      report(std::nullopt,
             std::string("not a valid JSON document: ") + simdjson::error_message(code));
    }
  }

  std::string_view source_;
  bool allow_room_id_;
  TemplatePieces& pieces_;
  std::vector<TemplateError>& errors_;
  std::size_t errors_before_;
  std::size_t errors_left_out_ = 0;
  std::optional<std::size_t> first_left_out_;
  std::uint32_t literal_start_ = 0;
  std::string probe_;
  std::vector<std::size_t> probe_source_offsets_;
  bool probe_is_meaningful_ = true;
};

}  // namespace

bool compile_pieces(std::string_view source, ParamKind kind, bool allow_room_id,
                    TemplatePieces& pieces, std::vector<TemplateError>& errors) {
  TemplateCompiler compiler(source, allow_room_id, pieces, errors);
  return kind == ParamKind::json ? compiler.compile_json() : compiler.compile_plain();
}

}  // namespace dispatch::tmpl
