// Turns template source text into TemplatePieces, checking its syntax (see template.h for the
// rules of each ParamKind).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "template/compile_options.h"
#include "template/template_error.h"
#include "template/template_pieces.h"

namespace dispatch::tmpl {

// At most this many errors are reported for one template; one more error then says how many
// were left out.
inline constexpr std::size_t kMaxTemplateErrors = 10;

// On error returns false and appends to `errors` every placeholder mistake (each misspelt,
// unknown or unterminated placeholder), then the JSON syntax error of a json template if its
// placeholders leave that check meaningful.
bool compile_pieces(std::string_view source, ParamKind kind, bool allow_room_id,
                    TemplatePieces& pieces, std::vector<TemplateError>& errors);

}  // namespace dispatch::tmpl
