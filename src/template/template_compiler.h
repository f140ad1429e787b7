// Turns template source text into TemplatePieces, checking its syntax (see template.h for the
// rules of each ParamKind).
#pragma once

#include <string>
#include <string_view>

#include "template/compile_options.h"
#include "template/template_pieces.h"

namespace dispatch::tmpl {

// On error returns false and sets `error` to a message that gives the byte offset.
bool compile_pieces(std::string_view source, ParamKind kind, bool allow_room_id,
                    TemplatePieces& pieces, std::string& error);

}  // namespace dispatch::tmpl
