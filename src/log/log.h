// Structured logs: one JSON object per line on stdout, e.g.
//   {"time":"2026-11-26T01:50:00.123Z","level":"info","msg":"listening","port":8080}
// Usage: log::info("listening").field("port", 8080);  — the line is written when the
// temporary ends. Fields are escaped, so no value can break the line. Never pass a secret
// or a token as a field: nothing here can tell them apart from other text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dispatch::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level level);
bool enabled(Level level);
std::string_view level_name(Level level);

class Line {
 public:
  Line(Level level, std::string_view message);
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;

  Line& field(std::string_view key, std::string_view value);
  Line& field(std::string_view key, const char* value) {
    return field(key, std::string_view(value));
  }
  Line& field(std::string_view key, const std::string& value) {
    return field(key, std::string_view(value));
  }
  Line& field(std::string_view key, int64_t value);
  Line& field(std::string_view key, uint64_t value);
  Line& field(std::string_view key, int value) { return field(key, int64_t{value}); }
  Line& field(std::string_view key, unsigned value) { return field(key, uint64_t{value}); }
  Line& field(std::string_view key, bool value);

 private:
  bool enabled_;
  std::string text_;
};

inline Line debug(std::string_view message) {
  return Line(Level::debug, message);
}
inline Line info(std::string_view message) {
  return Line(Level::info, message);
}
inline Line warn(std::string_view message) {
  return Line(Level::warn, message);
}
inline Line error(std::string_view message) {
  return Line(Level::error, message);
}

}  // namespace dispatch::log
