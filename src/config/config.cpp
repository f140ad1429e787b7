#include "config/config.h"

namespace dispatch::config {

std::string format_error(const ConfigError& error) {
  if (error.mark.line <= 0) return error.mark.file + ": " + error.message;
  return error.mark.file + ":" + std::to_string(error.mark.line) + ":" +
         std::to_string(error.mark.column) + ": " + error.message;
}

std::string_view to_string(SlowConsumerPolicy policy) {
  switch (policy) {
    case SlowConsumerPolicy::disconnect:
      return "disconnect";
    case SlowConsumerPolicy::drop_newest:
      return "drop_newest";
    case SlowConsumerPolicy::drop_oldest:
      return "drop_oldest";
  }
  return "?";
}

std::string_view to_string(ConnectionLimitMode mode) {
  switch (mode) {
    case ConnectionLimitMode::reject:
      return "reject";
    case ConnectionLimitMode::cycle:
      return "cycle";
  }
  return "?";
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "?";
}

}  // namespace dispatch::config
