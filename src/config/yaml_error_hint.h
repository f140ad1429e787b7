// Explains a YAML syntax error from yaml-cpp in the words of a config writer, at the line that
// needs the fix. yaml-cpp reports where it gave up, which is often the line after the mistake
// (`actions` without its `:` is noticed at the next line's `:`), in its own words ("illegal map
// value", "end of map flow not found"). This looks at the text around that position: an
// unclosed quote or bracket, a key without `:`, a tab in the indentation, a line indented unlike
// its siblings. One linear scan of the text up to the error; used only when parsing failed.
#pragma once

#include <string>
#include <string_view>

namespace dispatch::config {

struct YamlErrorHint {
  int line = 0;         // 1-based; 0 when unknown
  int column = 0;       // 1-based
  std::string message;  // without the "invalid YAML: " prefix
};

// `line` and `column` are yaml-cpp's position of the error (1-based), `parser_message` its words.
YamlErrorHint explain_yaml_error(std::string_view text, int line, int column,
                                 std::string_view parser_message);

}  // namespace dispatch::config
