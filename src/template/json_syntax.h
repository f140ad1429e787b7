// A JSON syntax check that reports where the text goes wrong, for load-time template errors.
// (simdjson only says whether a document is valid; a config author needs the position.)
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dispatch::tmpl {

struct JsonSyntaxError {
  std::size_t offset = 0;  // byte offset into the checked text
  std::string message;
};

// Checks that `text` is exactly one JSON value (RFC 8259 grammar, surrounding whitespace allowed).
// Does not check UTF-8; returns nullopt when the text is valid.
std::optional<JsonSyntaxError> find_json_syntax_error(std::string_view text);

}  // namespace dispatch::tmpl
