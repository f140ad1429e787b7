#include "log/log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>

#include "log/line_writer.h"
#include "template/json_escape.h"

namespace dispatch::log {

namespace {

std::atomic<int> current_level{static_cast<int>(Level::info)};

// Lines are formatted on the calling thread and written by the LineWriter's own thread. It is
// created with the first line and destroyed at exit, after writing what is still queued.
LineWriter& writer() {
  static LineWriter instance;
  return instance;
}

}  // namespace

void set_level(Level level) {
  current_level.store(static_cast<int>(level));
}

bool enabled(Level level) {
  return static_cast<int>(level) >= current_level.load(std::memory_order_relaxed);
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "info";
}

Line::Line(Level level, std::string_view message) : enabled_(enabled(level)) {
  if (!enabled_) return;
  auto now = std::chrono::system_clock::now();
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  text_ = fmt::format("{{\"time\":\"{:%Y-%m-%dT%H:%M:%S}.{:03d}Z\",\"level\":\"{}\",\"msg\":\"",
                      fmt::gmtime(std::chrono::system_clock::to_time_t(now)),
                      static_cast<int>(millis.count()), level_name(level));
  tmpl::append_json_escaped(text_, message);
  text_.push_back('"');
}

Line::~Line() {
  if (!enabled_) return;
  text_.push_back('}');
  writer().write(std::move(text_));
}

Line& Line::field(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  text_.append(",\"");
  tmpl::append_json_escaped(text_, key);
  text_.append("\":\"");
  tmpl::append_json_escaped(text_, value);
  text_.push_back('"');
  return *this;
}

Line& Line::field(std::string_view key, int64_t value) {
  if (!enabled_) return *this;
  text_.append(",\"");
  tmpl::append_json_escaped(text_, key);
  text_.append("\":");
  fmt::format_to(std::back_inserter(text_), "{}", value);
  return *this;
}

Line& Line::field(std::string_view key, uint64_t value) {
  if (!enabled_) return *this;
  text_.append(",\"");
  tmpl::append_json_escaped(text_, key);
  text_.append("\":");
  fmt::format_to(std::back_inserter(text_), "{}", value);
  return *this;
}

Line& Line::field(std::string_view key, bool value) {
  if (!enabled_) return *this;
  text_.append(",\"");
  tmpl::append_json_escaped(text_, key);
  text_.append(value ? "\":true" : "\":false");
  return *this;
}

}  // namespace dispatch::log
