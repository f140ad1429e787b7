// Helpers shared by the config_*_test.cpp files: a hermetic Environment and short ways to load
// YAML text and read back its errors as "file:line:col: message" lines.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/environment.h"
#include "config/loader.h"

namespace dispatch::config::test_support {

// 32 bytes: long enough not to draw the short-secret warning.
inline const std::string kTestSecret = "0123456789abcdef0123456789abcdef";

// Variables as if from .env, with the process environment ignored; DISPATCH_JWT_SECRET is set
// unless `variables` says otherwise.
inline Environment test_environment(std::map<std::string, std::string> variables = {}) {
  variables.emplace("DISPATCH_JWT_SECRET", kTestSecret);
  return Environment(std::move(variables), false);
}

// Raw string literals start with a newline after R"( for readability; line 1 is the line after.
inline std::string yaml_text(std::string_view text) {
  if (text.starts_with('\n')) text.remove_prefix(1);
  return std::string(text);
}

inline LoadResult load(std::string_view text, const Environment& environment = test_environment()) {
  return load_config_text(yaml_text(text), "test.yaml", environment);
}

inline std::vector<std::string> error_lines(const LoadResult& result) {
  std::vector<std::string> lines;
  for (const ConfigError& error : result.errors) lines.push_back(format_error(error));
  return lines;
}

// "file:line:col: message" for each warning (or "file: message" without a position).
inline std::vector<std::string> warning_lines(const LoadResult& result) {
  std::vector<std::string> lines;
  for (const ConfigError& warning : result.warnings) lines.push_back(format_error(warning));
  return lines;
}

inline std::vector<std::string> warning_messages(const LoadResult& result) {
  std::vector<std::string> messages;
  for (const ConfigError& warning : result.warnings) messages.push_back(warning.message);
  return messages;
}

}  // namespace dispatch::config::test_support
