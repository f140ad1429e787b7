#include "template/template_compiler.h"

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "template/json_syntax.h"
#include "template/placeholder_syntax.h"

namespace dispatch::tmpl {
namespace {

bool is_json_whitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string offset_text(std::size_t offset) {
  return "at offset " + std::to_string(offset);
}

// One pass over the source. Literal bytes accumulate in pieces.literals and become one literal
// piece when a placeholder (or the end) is reached.
//
// For json templates it also builds a probe: the document as it would be with `null` for every
// whole-value placeholder and nothing for placeholders inside strings, with whitespace kept.
// Checking the probe checks every possible filling, since string content is escaped and whole
// values are valid JSON. The emitted literals leave out whitespace between tokens, so filled
// documents are compact.
class TemplateCompiler {
 public:
  TemplateCompiler(std::string_view source, bool allow_room_id, TemplatePieces& pieces,
                   std::string& error)
      : source_(source), allow_room_id_(allow_room_id), pieces_(pieces), error_(error) {}

  bool compile_plain() {
    std::size_t i = 0;
    while (i < source_.size()) {
      const char c = source_[i];
      if ((c == '{' || c == '}') && next_is(i, c)) {  // {{ and }} stand for one brace
        add_literal(c);
        i += 2;
      } else if (c == '{' && starts_placeholder(source_, i)) {
        if (!add_placeholder(i, FillMode::text, false, i)) return false;
      } else if (c == '{' && is_misspelt_placeholder(i)) {
        return false;
      } else {  // anything else, including a lone brace, is literal
        add_literal(c);
        ++i;
      }
    }
    flush_literal();
    return true;
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
          if (!add_placeholder(i, FillMode::json_string_content, true, i)) return false;
        } else if (c == '{' && is_misspelt_placeholder(i)) {
          return false;
        } else {
          if (c == '"') in_string = false;
          add_json_literal(c, i);
          ++i;
        }
      } else if (c == '{' && starts_placeholder(source_, i)) {
        const std::size_t brace = i;
        if (!add_placeholder(i, FillMode::json_value, false, i)) return false;
        for (char p : std::string_view("null")) add_probe(p, brace);
      } else if (c == '{' && is_misspelt_placeholder(i)) {
        return false;
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
    return check_probe();
  }

 private:
  bool next_is(std::size_t i, char c) const {
    return i + 1 < source_.size() && source_[i + 1] == c;
  }

  // Sets the error when the `{` at `brace` looks like a placeholder written wrongly.
  bool is_misspelt_placeholder(std::size_t brace) {
    std::optional<std::string> message = misspelt_placeholder(source_, brace);
    if (!message) return false;
    error_ = *message + " (" + offset_text(brace) + ")";
    return true;
  }

  void add_literal(char c) { pieces_.literals += c; }

  void add_probe(char c, std::size_t source_offset) {
    probe_ += c;
    probe_source_offsets_.push_back(source_offset);
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

  // Parses the placeholder whose `{` is at `brace`; on success sets `next` past its `}`.
  bool add_placeholder(std::size_t brace, FillMode mode, bool inside_string, std::size_t& next) {
    const std::size_t end = find_placeholder_end(source_, brace);
    if (end == std::string_view::npos) {
      std::size_t stop = brace + 1;
      while (stop < source_.size() && stop - brace < 40 && source_[stop] != '}' &&
             static_cast<unsigned char>(source_[stop]) > 0x20 && source_[stop] != '"') {
        ++stop;
      }
      error_ = "unterminated placeholder " + std::string(source_.substr(brace, stop - brace)) +
               " " + offset_text(brace) +
               ": a placeholder ends with } and holds no spaces or quotes (write {{ for a "
               "literal {)";
      return false;
    }
    std::string parse_error;
    std::optional<Placeholder> placeholder =
        parse_placeholder(source_.substr(brace + 1, end - brace - 1), allow_room_id_, parse_error);
    if (!placeholder) {
      error_ = parse_error + " (" + offset_text(brace) + ")";
      return false;
    }
    placeholder->inside_string = inside_string;
    flush_literal();
    const auto index = static_cast<std::uint32_t>(pieces_.placeholders.size());
    pieces_.placeholders.push_back(std::move(*placeholder));
    pieces_.pieces.push_back(Piece{mode, index, 0});
    next = end + 1;
    return true;
  }

  bool check_probe() {
    if (std::optional<JsonSyntaxError> syntax = find_json_syntax_error(probe_)) {
      const std::size_t offset = syntax->offset < probe_source_offsets_.size()
                                     ? probe_source_offsets_[syntax->offset]
                                     : source_.size();
      error_ = "not a valid JSON document " + offset_text(offset) + ": " + syntax->message;
      return false;
    }
    // The grammar check above does not look at UTF-8; simdjson checks everything.
    simdjson::dom::parser parser;
    const simdjson::error_code code = parser.parse(simdjson::padded_string(probe_)).error();
    if (code != simdjson::SUCCESS) {
      error_ = std::string("not a valid JSON document: ") + simdjson::error_message(code);
      return false;
    }
    return true;
  }

  std::string_view source_;
  bool allow_room_id_;
  TemplatePieces& pieces_;
  std::string& error_;
  std::uint32_t literal_start_ = 0;
  std::string probe_;
  std::vector<std::size_t> probe_source_offsets_;
};

}  // namespace

bool compile_pieces(std::string_view source, ParamKind kind, bool allow_room_id,
                    TemplatePieces& pieces, std::string& error) {
  TemplateCompiler compiler(source, allow_room_id, pieces, error);
  return kind == ParamKind::json ? compiler.compile_json() : compiler.compile_plain();
}

}  // namespace dispatch::tmpl
