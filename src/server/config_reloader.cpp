#include "server/config_reloader.h"

#include <boost/asio/post.hpp>

#include <future>
#include <set>

#include "config/loader.h"
#include "log/log.h"
#include "pipeline/compiled_config.h"
#include "server/engine.h"
#include "server/event_loop.h"

namespace dispatch {

namespace {

constexpr auto force_reload_window = std::chrono::seconds(60);

// The events of the running config that a message ran for since it was installed, on any loop.
// Each loop reports its own counts on its own thread; nothing when a loop did not answer (the
// caller then treats every event as in use rather than guess).
std::optional<std::set<std::string>> events_in_use(Engine& engine) {
  std::vector<std::future<std::vector<std::string>>> answers;
  for (unsigned i = 0; i < engine.loop_count(); ++i) {
    auto promise = std::make_shared<std::promise<std::vector<std::string>>>();
    answers.push_back(promise->get_future());
    EventLoop& loop = engine.loop(i);
    loop.post([&loop, promise] {
      std::vector<std::string> used;
      const auto& counts = loop.event_message_counts();
      const auto& events = loop.config().config().events;
      for (size_t e = 0; e < counts.size() && e < events.size(); ++e) {
        if (counts[e] > 0) used.push_back(events[e].name);
      }
      promise->set_value(std::move(used));
    });
  }
  std::set<std::string> used;
  for (auto& answer : answers) {
    if (answer.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      log::warn("an event loop did not report its events in use within 5 s");
      return std::nullopt;
    }
    for (std::string& name : answer.get()) used.insert(std::move(name));
  }
  return used;
}

}  // namespace

log::Level log_level_of(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::debug:
      return log::Level::debug;
    case config::LogLevel::info:
      return log::Level::info;
    case config::LogLevel::warn:
      return log::Level::warn;
    case config::LogLevel::error:
      return log::Level::error;
  }
  return log::Level::info;
}

ConfigReloader::ConfigReloader(const ServeOptions& options, const StepRegistry& registry,
                               Engine& engine, std::shared_ptr<const CompiledConfig> running)
    : options_(options), registry_(registry), engine_(engine), running_(std::move(running)) {}

ReloadResult ConfigReloader::reload(std::string_view trigger) {
  log::info("reloading config").field("trigger", trigger);
  ReloadResult result;
  CheckedConfig checked = check_config(options_, registry_);
  for (const config::ConfigError& warning : checked.warnings) {
    result.warnings.push_back(config::format_error(warning));
    log::warn(result.warnings.back());
  }
  for (const config::ConfigError& error : checked.errors) {
    result.errors.push_back(config::format_error(error));
    log::error("config error").field("error", result.errors.back());
  }
  if (!checked.compiled) {
    engine_.reloads_refused().fetch_add(1);
    log::error("config reload refused: the running config stays");
    result.outcome = ReloadResult::Outcome::invalid;
    result.config_version = engine_.config_version().load();
    return result;
  }
  const std::shared_ptr<const CompiledConfig>& reloaded = checked.compiled;

  std::vector<std::string> dropped;
  for (const config::EventSpec& event : running_->config().events) {
    if (!reloaded->find_event(event.name)) dropped.push_back(event.name);
  }
  if (!dropped.empty()) {
    const std::optional<std::set<std::string>> used = events_in_use(engine_);
    std::string dropped_in_use;
    for (const std::string& name : dropped) {
      if (used && used->count(name) == 0) continue;
      if (!dropped_in_use.empty()) dropped_in_use += ", ";
      dropped_in_use += name;
    }
    const auto now = std::chrono::steady_clock::now();
    const bool forced =
        refused_ && refused_->text == checked.text && now - refused_->at <= force_reload_window;
    if (!dropped_in_use.empty() && !forced) {
      refused_ = RefusedReload{checked.text, now};
      engine_.reloads_refused().fetch_add(1);
      log::warn(
          "config reload refused: it drops events clients are using (" + dropped_in_use +
          "); their messages would be answered unknown_event. To apply it anyway, send SIGHUP "
          "again within 60 s (or POST /api/reload again) with the same config file content")
          .field("events", dropped_in_use);
      result.outcome = ReloadResult::Outcome::drops_events_in_use;
      result.events_in_use = std::move(dropped_in_use);
      result.config_version = engine_.config_version().load();
      return result;
    }
    if (!dropped_in_use.empty()) {
      log::warn("config reload forced: dropping events in use").field("events", dropped_in_use);
    }
  }
  refused_.reset();

  const auto& before = running_->config().server;
  const auto& after = reloaded->config().server;
  if (before.host != after.host || before.port != after.port || before.threads != after.threads ||
      before.admin_address != after.admin_address) {
    log::warn("server.address, server.admin_address and server.threads change only on restart");
  }
  if (running_->config().cluster != reloaded->config().cluster) {
    log::warn("cluster changes only on restart; the node keeps its Redis connections");
  }
  log::set_level(log_level_of(reloaded->config().log_level));
  running_ = reloaded;
  for (unsigned i = 0; i < engine_.loop_count(); ++i) {
    EventLoop& loop = engine_.loop(i);
    loop.post([&loop, reloaded] { loop.install_config(reloaded); });
  }
  result.config_version = engine_.config_version().fetch_add(1) + 1;
  engine_.reloads_applied().fetch_add(1);
  log::info("config reloaded").field("config_version", result.config_version);
  return result;
}

}  // namespace dispatch
