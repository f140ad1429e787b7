// Building JSON text by hand, safely: what a step needs to put a value inside a payload string.
#pragma once

#include <string>
#include <string_view>

namespace dispatch {

// Appends `text` to `out` escaped for use between the quotes of a JSON string: `"` and `\`
// get a backslash, control characters below 0x20 become \b \f \n \r \t or \u00XX. All other
// bytes, including multi-byte UTF-8 sequences, are copied unchanged; the caller supplies valid
// UTF-8 (text that came out of a JSON parser, a filled template or a validated frame).
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace dispatch
