#include "config/scalar_position.h"

namespace dispatch::config {

std::optional<SourceMark> verbatim_text_start(std::string_view yaml, const YAML::Mark& mark,
                                              std::string_view text, const std::string& file_name) {
  if (mark.pos < 0 || mark.line < 0 || mark.column < 0) return std::nullopt;
  const auto scalar = static_cast<std::size_t>(mark.pos);
  if (scalar >= yaml.size() || text.find_first_of("\r\n") != std::string_view::npos) {
    return std::nullopt;
  }
  const char first = yaml[scalar];
  const bool quoted = first == '\'' || first == '"';
  const std::size_t start = quoted ? scalar + 1 : scalar;
  if (yaml.substr(start, text.size()) != text) return std::nullopt;  // escapes, ${VAR}, folding
  if (quoted) {
    // The text must end at the closing quote, not at an escaped one (`''`).
    const std::size_t after = start + text.size();
    if (after >= yaml.size() || yaml[after] != first) return std::nullopt;
    if (first == '\'' && after + 1 < yaml.size() && yaml[after + 1] == '\'') return std::nullopt;
  }
  return SourceMark{file_name, mark.line + 1, mark.column + 1 + static_cast<int>(start - scalar)};
}

}  // namespace dispatch::config
