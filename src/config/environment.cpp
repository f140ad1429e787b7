#include "config/environment.h"

#include <unistd.h>

#include <cstdlib>

#include "config/file_reading.h"

namespace dispatch::config {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

// Parses one dotenv line. Returns false (with `error` set, and `error_column` 1-based) when the
// line is malformed; returns true with an empty `key` for blank and comment lines.
// Messages never contain the value: .env files hold secrets.
bool parse_dotenv_line(std::string_view line, std::string& key, std::string& value,
                       std::string& error, size_t& error_column) {
  size_t pos = 0;
  auto skip_blanks = [&] {
    while (pos < line.size() && is_blank(line[pos])) ++pos;
  };
  auto fail = [&](std::string message) {
    error = std::move(message);
    error_column = pos + 1;
    return false;
  };

  skip_blanks();
  if (pos == line.size() || line[pos] == '#') return true;
  if (line.substr(pos, 6) == "export" && pos + 6 < line.size() && is_blank(line[pos + 6])) {
    pos += 6;
    skip_blanks();
  }
  if (pos == line.size() || !is_name_start(line[pos])) {
    return fail(
        "expected KEY=VALUE, where KEY is letters, digits and _ (not starting with a digit)");
  }
  const size_t key_start = pos;
  while (pos < line.size() && is_name_char(line[pos])) ++pos;
  key = std::string(line.substr(key_start, pos - key_start));
  skip_blanks();
  if (pos == line.size() || line[pos] != '=') {
    return fail("expected `=` after `" + key + "` (lines are KEY=VALUE)");
  }
  ++pos;
  skip_blanks();

  auto rest_is_comment_or_blank = [&] {
    skip_blanks();
    return pos == line.size() || line[pos] == '#';
  };

  value.clear();
  if (pos < line.size() && (line[pos] == '"' || line[pos] == '\'')) {
    const char quote = line[pos];
    const size_t open_column = pos;
    ++pos;
    bool closed = false;
    while (pos < line.size()) {
      const char c = line[pos];
      if (c == quote) {
        closed = true;
        ++pos;
        break;
      }
      if (quote == '"' && c == '\\' && pos + 1 < line.size()) {
        const char escaped = line[pos + 1];
        switch (escaped) {
          case 'n':
            value += '\n';
            break;
          case 't':
            value += '\t';
            break;
          case 'r':
            value += '\r';
            break;
          case '"':
          case '\\':
            value += escaped;
            break;
          default:  // unknown escapes stay as written
            value += '\\';
            value += escaped;
        }
        pos += 2;
        continue;
      }
      value += c;
      ++pos;
    }
    if (!closed) {
      pos = open_column;
      return fail("the value of `" + key + "` has no closing " +
                  (quote == '"' ? "double quote" : "single quote") +
                  " (values must fit on one line)");
    }
    if (!rest_is_comment_or_blank()) {
      return fail("unexpected text after the quoted value of `" + key + "`");
    }
    return true;
  }

  // Unquoted: up to a '#' that follows a blank (a trailing comment), then trimmed.
  const size_t value_start = pos;
  size_t value_end = line.size();
  for (size_t i = value_start; i < line.size(); ++i) {
    if (line[i] == '#' && i > 0 && is_blank(line[i - 1])) {
      value_end = i;
      break;
    }
  }
  while (value_end > value_start && is_blank(line[value_end - 1])) --value_end;
  value = std::string(line.substr(value_start, value_end - value_start));
  return true;
}

}  // namespace

Environment::Environment(std::map<std::string, std::string> file_variables,
                         bool consult_process_environment)
    : file_variables_(file_variables.begin(), file_variables.end()),
      consult_process_environment_(consult_process_environment) {}

std::map<std::string, std::string> Environment::parse_dotenv(std::string_view text,
                                                             const std::string& file_name,
                                                             std::vector<ConfigError>& errors) {
  std::map<std::string, std::string> variables;
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    std::string key, value, error;
    size_t error_column = 0;
    if (!parse_dotenv_line(line, key, value, error, error_column)) {
      errors.push_back({{file_name, line_number, static_cast<int>(error_column)}, error});
      continue;
    }
    if (!key.empty()) variables[key] = std::move(value);  // a later line wins
  }
  return variables;
}

Environment Environment::from_process(const std::string& env_file_path, bool env_file_required,
                                      std::vector<ConfigError>& errors) {
  FileReadResult file = read_regular_file(env_file_path);
  if (!file.contents) {
    // A missing optional file is fine; one that exists but cannot be read (a directory, a
    // FIFO, no permission) is always an error: it was surely meant to be read.
    if (env_file_required || !file.missing) {
      // Built in place: GCC 12 at -O3 warns (maybe-uninitialized) on the braced temporary.
      ConfigError& error = errors.emplace_back();
      error.mark.file = env_file_path;
      error.message = "cannot read the environment file: " + file.error;
    }
    return Environment({}, true);
  }
  return Environment(parse_dotenv(*file.contents, env_file_path, errors), true);
}

std::optional<std::string> Environment::lookup(std::string_view name) const {
  if (consult_process_environment_) {
    if (const char* value = std::getenv(std::string(name).c_str())) return std::string(value);
  }
  if (auto it = file_variables_.find(name); it != file_variables_.end()) return it->second;
  return std::nullopt;
}

std::vector<std::string> Environment::names() const {
  std::vector<std::string> names;
  if (consult_process_environment_) {
    for (char** entry = environ; entry && *entry; ++entry) {
      const std::string_view variable(*entry);
      names.emplace_back(variable.substr(0, variable.find('=')));
    }
  }
  for (const auto& [name, value] : file_variables_) names.push_back(name);
  return names;
}

}  // namespace dispatch::config
