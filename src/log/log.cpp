#include "log/log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>

#include "template/json_escape.h"

namespace dispatch::log {

namespace {

std::atomic<int> current_level{static_cast<int>(Level::info)};

// Lines are formatted on the calling thread and handed to one writer thread through a bounded
// queue (spdlog's async logger): an event loop never waits on stdout, however slowly whoever
// reads it reads. The writer writes each line whole and flushes it (the stdout sink does). When
// the queue is full the oldest waiting line is dropped, never the caller blocked. At exit the
// static objects below are destroyed in reverse order: the logger, then the pool, whose
// destructor writes what is still queued before it joins its thread.
constexpr size_t queued_lines_limit = 8192;

spdlog::logger& sink() {
  static auto pool = std::make_shared<spdlog::details::thread_pool>(queued_lines_limit, 1);
  static auto logger = [] {
    auto created = std::make_shared<spdlog::async_logger>(
        "dispatch", std::make_shared<spdlog::sinks::stdout_sink_mt>(), pool,
        spdlog::async_overflow_policy::overrun_oldest);
    created->set_pattern("%v");
    created->set_level(spdlog::level::trace);
    return created;
  }();
  return *logger;
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
  sink().info(text_);
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
