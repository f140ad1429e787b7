// Escaping text as the content of a JSON string literal (without the surrounding quotes).
#pragma once

#include <string>
#include <string_view>

namespace dispatch::tmpl {

// Appends `text` to `out` escaped for use between the quotes of a JSON string: `"` and `\`
// get a backslash, control characters below 0x20 become \b \f \n \r \t or \u00XX. All other
// bytes, including multi-byte UTF-8 sequences, are copied unchanged; the caller supplies valid
// UTF-8 (text that came out of a JSON parser or a validated frame).
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace dispatch::tmpl
