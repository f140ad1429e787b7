// The compiled form of a template (internal to the template module): the literal text of all
// literal pieces in one buffer, and a sequence of pieces that either copy a range of that buffer
// or insert a placeholder's value in one of three ways. Ranges are offsets, not views, so a
// Template can be copied and moved freely.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "template/placeholder.h"

namespace dispatch::tmpl {

enum class FillMode : std::uint8_t {
  literal,              // copy literals[begin, begin + size)
  text,                 // name/text params: a string's characters, other values' JSON text
  json_string_content,  // inside a JSON string literal: the text, escaped
  json_value,           // a whole JSON value: a string quoted and escaped, others as they are
};

struct Piece {
  FillMode mode = FillMode::literal;
  std::uint32_t begin = 0;  // literal: offset into literals; otherwise: index into placeholders
  std::uint32_t size = 0;   // literal: length; unused otherwise
};

struct TemplatePieces {
  std::string literals;
  std::vector<Piece> pieces;
  std::vector<Placeholder> placeholders;  // in order of appearance, one per occurrence
};

}  // namespace dispatch::tmpl
