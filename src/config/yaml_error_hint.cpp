#include "config/yaml_error_hint.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dispatch::config {

namespace {

struct Opening {
  char c = 0;
  int line = 0;
  int column = 0;
};

// Quotes and flow brackets still open where the parser stopped, and the first tab used for
// indentation. Comments are skipped; a quote or bracket counts only where a value can start
// (so `don't` and `a[0]` in plain text are text).
struct OpenState {
  std::vector<Opening> brackets;
  std::optional<Opening> quote;
  std::optional<Opening> tab;
};

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

bool starts_value(char previous) {
  return previous == 0 || previous == ':' || previous == '-' || previous == '[' ||
         previous == '{' || previous == ',' || previous == '?';
}

OpenState scan_until(const std::vector<std::string_view>& lines, int stop_line, int stop_column) {
  OpenState state;
  for (int l = 0; l < static_cast<int>(lines.size()) && l < stop_line; ++l) {
    const std::string_view line = lines[static_cast<size_t>(l)];
    const size_t end = l + 1 == stop_line && stop_column > 0
                           ? std::min(line.size(), static_cast<size_t>(stop_column - 1))
                           : line.size();
    size_t i = 0;
    if (!state.quote) {
      while (i < end && is_blank(line[i])) {
        if (line[i] == '\t' && !state.tab && state.brackets.empty() &&
            line.find_first_not_of(" \t") != std::string_view::npos) {
          state.tab = Opening{'\t', l + 1, static_cast<int>(i) + 1};
        }
        ++i;
      }
    }
    char previous = 0;
    for (; i < end; ++i) {
      const char c = line[i];
      if (state.quote) {
        if (state.quote->c == '"' && c == '\\') {
          ++i;
        } else if (c == state.quote->c) {
          if (c == '\'' && i + 1 < end && line[i + 1] == '\'') {
            ++i;
          } else {
            state.quote.reset();
          }
        }
        previous = c;
        continue;
      }
      if (c == '#' && (i == 0 || is_blank(line[i - 1]))) break;
      if ((c == '"' || c == '\'') && starts_value(previous)) {
        state.quote = Opening{c, l + 1, static_cast<int>(i) + 1};
      } else if ((c == '[' || c == '{') && starts_value(previous)) {
        state.brackets.push_back(Opening{c, l + 1, static_cast<int>(i) + 1});
      } else if ((c == ']' || c == '}') && !state.brackets.empty()) {
        state.brackets.pop_back();
      }
      if (!is_blank(c)) previous = c;
    }
  }
  return state;
}

std::string_view trimmed(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

// The text of a line without a trailing comment (outside quotes, roughly).
std::string_view content_of(std::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || is_blank(line[i - 1]))) return trimmed(line.substr(0, i));
  }
  return trimmed(line);
}

bool has_key_colon(std::string_view content) {
  return content.find(": ") != std::string_view::npos || content.ends_with(':');
}

std::string closing_of(char c) {
  return c == '[' ? "]" : c == '{' ? "}" : std::string(1, c);
}

// The closest line above `line` with content, or 0.
int previous_content_line(const std::vector<std::string_view>& lines, int line) {
  int previous = line - 1;
  while (previous >= 1 && content_of(lines[static_cast<size_t>(previous - 1)]).empty()) --previous;
  return previous;
}

// When the line above `line` is a bare word (`actions`, `path "/ws"`), its key lacks its `:`:
// the parser took it for text running on into this line.
std::optional<YamlErrorHint> missing_colon_above(const std::vector<std::string_view>& lines,
                                                 int line) {
  const int previous = previous_content_line(lines, line);
  if (previous < 1) return std::nullopt;
  const std::string_view above_line = lines[static_cast<size_t>(previous - 1)];
  const std::string_view above = content_of(above_line);
  if (has_key_colon(above) || above.starts_with('-') || above.starts_with('[') ||
      above.starts_with('{')) {
    return std::nullopt;
  }
  const auto end = static_cast<int>(above.data() - above_line.data() + above.size());
  std::string message = "`";  // appended: GCC 12 -O3 warns (-Wrestrict) on operator+ chains
  message.append(above).append(
      "` has no `:` after its key: write `key: value`, or `key:` with what it holds indented "
      "below");
  return YamlErrorHint{previous, end + 1, std::move(message)};
}

}  // namespace

YamlErrorHint explain_yaml_error(std::string_view text, int line, int column,
                                 std::string_view parser_message) {
  const std::vector<std::string_view> lines = split_lines(text);
  const OpenState open = scan_until(lines, line, column);
  const std::string raw(parser_message);

  if (open.quote) {
    return {open.quote->line, open.quote->column,
            std::string("the quote ") + open.quote->c + " opened here is never closed (a quoted " +
                "value ends with the same quote; inside '...' write '' for one ')"};
  }
  if (open.tab) {
    return {open.tab->line, open.tab->column,
            "a tab in the indentation: YAML indents with spaces only"};
  }
  if (raw.find("flow not found") != std::string::npos && !open.brackets.empty()) {
    const Opening& bracket = open.brackets.back();
    return {bracket.line, bracket.column,
            std::string("the `") + bracket.c + "` opened here has no closing `" +
                closing_of(bracket.c) + "`"};
  }
  if (raw == "illegal flow end") {
    return {line, column,
            "a closing bracket here closes nothing: count the brackets (or quote the value)"};
  }
  const bool on_a_line = line >= 1 && line <= static_cast<int>(lines.size());
  if (raw == "illegal map value" && on_a_line) {
    const std::string_view error_line = lines[static_cast<size_t>(line - 1)];
    const std::string_view before =
        error_line.substr(0, std::min(error_line.size(), static_cast<size_t>(column - 1)));
    if (before.find(": ") != std::string_view::npos) {
      return {line, column,
              "a second `: ` in one line: a value that holds `: ` must be quoted (\"a: b\")"};
    }
    if (auto hint = missing_colon_above(lines, line)) return *hint;
    const int previous = previous_content_line(lines, line);
    if (previous >= 1) {
      return {line, static_cast<int>(error_line.find_first_not_of(" \t") + 1),
              "this line is indented under `" +
                  std::string(content_of(lines[static_cast<size_t>(previous - 1)])) +
                  "`, which already has a value: indent it like the keys beside that one, or "
                  "write that key alone (`key:`) with what it holds indented below"};
    }
  }
  if (raw == "end of map not found" && on_a_line) {
    if (auto hint = missing_colon_above(lines, line)) return *hint;
  }
  if ((raw == "end of map not found" || raw == "end of sequence not found") && on_a_line) {
    const std::string_view error_line = lines[static_cast<size_t>(line - 1)];
    const size_t first = error_line.find_first_not_of(" \t");
    if (first != std::string_view::npos) {
      return {line, static_cast<int>(first + 1),
              "this line is indented to column " + std::to_string(first + 1) +
                  ", unlike the lines it belongs with: entries of one mapping or list start in "
                  "the same column"};
    }
  }
  return {line, column, raw};
}

}  // namespace dispatch::config
