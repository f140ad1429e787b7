#include "server/server.h"

#include <sched.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <future>
#include <iostream>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include "config/loader.h"
#include "log/log.h"
#include "pipeline/compiled_config.h"
#include "protocol/websocket.h"
#include "server/acceptor.h"
#include "server/engine.h"
#include "server/event_loop.h"

namespace dispatch {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

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

// Loads and compiles at startup; prints every problem to stderr (a reload logs them instead).
std::shared_ptr<const CompiledConfig> load(const ServeOptions& options,
                                           const StepRegistry& registry) {
  CheckedConfig checked = check_config(options, registry);
  for (const config::ConfigError& warning : checked.warnings) {
    log::warn(config::format_error(warning));
  }
  for (const config::ConfigError& error : checked.errors) {
    std::cerr << config::format_error(error) << "\n";
  }
  return checked.errors.empty() ? checked.compiled : nullptr;
}

unsigned threads_for(const config::ServerConfig& server) {
  if (server.threads > 0) return std::min<unsigned>(server.threads, Directory::max_loops);
  cpu_set_t set;
  CPU_ZERO(&set);
  unsigned count = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) count = static_cast<unsigned>(CPU_COUNT(&set));
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  return std::min<unsigned>(count, Directory::max_loops);
}

// A reload refused because it drops events in use: the same config text again within
// kForceReloadWindow applies it (the operator's "yes, I mean it").
struct RefusedReload {
  std::string text;
  std::chrono::steady_clock::time_point at;
};
constexpr auto kForceReloadWindow = std::chrono::seconds(60);

// The events of the running config that a message ran for since it was installed, on any loop.
// Each loop reports its own counts on its own thread; nothing when a loop did not answer (the
// caller then treats every event as in use rather than guess).
std::optional<std::set<std::string>> events_in_use(Engine& engine, unsigned loop_count) {
  std::vector<std::future<std::vector<std::string>>> answers;
  for (unsigned i = 0; i < loop_count; ++i) {
    auto promise = std::make_shared<std::promise<std::vector<std::string>>>();
    answers.push_back(promise->get_future());
    EventLoop& loop = engine.loop(i);
    asio::post(loop.io(), [&loop, promise] {
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

// SIGHUP: loads the config again; installs it on every loop unless it has errors, or unless it
// drops events that clients used since the running config was installed (then it is refused
// with one warning, and the same file content within 60 s applies it anyway).
void reload(const ServeOptions& options, const StepRegistry& registry, Engine& engine,
            std::shared_ptr<const CompiledConfig>& running, std::optional<RefusedReload>& refused) {
  log::info("reloading config (SIGHUP)");
  CheckedConfig checked = check_config(options, registry);
  for (const config::ConfigError& warning : checked.warnings) {
    log::warn(config::format_error(warning));
  }
  for (const config::ConfigError& error : checked.errors) {
    log::error("config error").field("error", config::format_error(error));
  }
  if (!checked.compiled) {
    engine.reloads_refused().fetch_add(1);
    log::error("config reload refused: the running config stays");
    return;
  }
  const std::shared_ptr<const CompiledConfig>& reloaded = checked.compiled;
  const unsigned loop_count = engine.loop_count();

  std::vector<std::string> dropped;
  for (const config::EventSpec& event : running->config().events) {
    if (!reloaded->find_event(event.name)) dropped.push_back(event.name);
  }
  if (!dropped.empty()) {
    const std::optional<std::set<std::string>> used = events_in_use(engine, loop_count);
    std::string dropped_in_use;
    for (const std::string& name : dropped) {
      if (used && used->count(name) == 0) continue;
      if (!dropped_in_use.empty()) dropped_in_use += ", ";
      dropped_in_use += name;
    }
    const auto now = std::chrono::steady_clock::now();
    const bool forced =
        refused && refused->text == checked.text && now - refused->at <= kForceReloadWindow;
    if (!dropped_in_use.empty() && !forced) {
      refused = RefusedReload{checked.text, now};
      engine.reloads_refused().fetch_add(1);
      log::warn(
          "config reload refused: it drops events clients are using (" + dropped_in_use +
          "); their messages would be answered unknown_event. To apply it anyway, send SIGHUP "
          "again within 60 s with the same config file content")
          .field("events", dropped_in_use);
      return;
    }
    if (!dropped_in_use.empty()) {
      log::warn("config reload forced: dropping events in use").field("events", dropped_in_use);
    }
  }
  refused.reset();

  const auto& before = running->config().server;
  const auto& after = reloaded->config().server;
  if (before.host != after.host || before.port != after.port || before.threads != after.threads) {
    log::warn("server.address and server.threads change only on restart");
  }
  log::set_level(log_level_of(reloaded->config().log_level));
  running = reloaded;
  for (unsigned i = 0; i < loop_count; ++i) {
    EventLoop& loop = engine.loop(i);
    loop.post([&loop, reloaded] { loop.install_config(reloaded); });
  }
  const uint64_t version = engine.config_version().fetch_add(1) + 1;
  engine.reloads_applied().fetch_add(1);
  log::info("config reloaded").field("config_version", version);
}

}  // namespace

CheckedConfig check_config(const ServeOptions& options, const StepRegistry& registry) {
  CheckedConfig checked;
  config::Environment environment = config::Environment::from_process(
      options.env_file, options.env_file_required, checked.errors);
  if (!checked.errors.empty()) return checked;
  environment.allow_unset_secrets(options.without_secrets);
  config::LoadResult loaded =
      options.config_path.empty()
          ? config::load_config_text(options.config_text, "<embedded development config>",
                                     environment)
          : config::load_config_file(options.config_path, environment);
  checked.errors = std::move(loaded.errors);
  checked.warnings = std::move(loaded.warnings);
  checked.notes = std::move(loaded.notes);
  if (loaded.config && options.address_override) {
    loaded.config->server.host = options.address_override->host;
    loaded.config->server.port = options.address_override->port;
  }
  checked.text = std::move(loaded.text);
  if (loaded.config || loaded.partial) {
    config::check_runnable(loaded.config ? *loaded.config : *loaded.partial, checked.errors);
  }
  if (loaded.config && checked.errors.empty()) {
    checked.compiled = CompiledConfig::compile(std::move(*loaded.config), registry, checked.errors);
  } else if (loaded.config || loaded.partial) {
    // Only for the steps' own errors: a config with errors never runs.
    CompiledConfig::compile(std::move(loaded.config ? *loaded.config : *loaded.partial), registry,
                            checked.errors);
  }
  std::stable_sort(checked.errors.begin(), checked.errors.end(),
                   [](const config::ConfigError& a, const config::ConfigError& b) {
                     return std::tie(a.mark.line, a.mark.column) <
                            std::tie(b.mark.line, b.mark.column);
                   });
  return checked;
}

int serve(const ServeOptions& options, const StepRegistry& registry) {
  std::signal(SIGPIPE, SIG_IGN);
  std::shared_ptr<const CompiledConfig> compiled = load(options, registry);
  if (!compiled) return 1;
  const config::Config& config = compiled->config();
  log::set_level(log_level_of(config.log_level));
  if (options.config_path.empty()) {
    log::warn(
        "running the embedded DEVELOPMENT config: its JWT secret is public, anyone can "
        "sign tokens for it. Use --config with your own config and secret in production.");
  }

  const unsigned loop_count = threads_for(config.server);
  Engine engine(loop_count, compiled);

  // Bind once, without SO_REUSEPORT: a port held by any other socket is an error, never shared.
  boost::system::error_code ec;
  asio::ip::address address = config.server.host.empty()
                                  ? asio::ip::address(asio::ip::address_v4::any())
                                  : asio::ip::make_address(config.server.host, ec);
  if (ec) {
    asio::io_context resolver_context;
    tcp::resolver resolver(resolver_context);
    auto results = resolver.resolve(config.server.host, "", ec);
    if (ec || results.empty()) {
      std::cerr << "cannot resolve server.address host `" << config.server.host << "`\n";
      return 1;
    }
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, config.server.port);
  tcp::acceptor acceptor(engine.loop(0).io());
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  // Accepted sockets inherit it: no setsockopt per connection.
  if (!ec) acceptor.set_option(tcp::no_delay(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "cannot listen on " << endpoint << ": " << ec.message()
              << (ec == asio::error::address_in_use
                      ? " (another process holds the port; stop it or change server.address)"
                      : "")
              << "\n";
    log::error("cannot listen")
        .field("address", address.to_string())
        .field("port", unsigned{config.server.port})
        .field("error", ec.message());
    return 1;
  }
  const unsigned short port = acceptor.local_endpoint().port();
  Acceptor accepting(engine, std::move(acceptor));

  // Signal handlers before the `listening` line: a SIGHUP or SIGTERM sent as soon as it appears
  // is queued for the handler below, never the default action (which kills the process).
  asio::io_context control;
  asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
  for (unsigned i = 0; i < loop_count; ++i) engine.loop(i).start_thread();
  asio::post(engine.loop(0).io(), [&accepting] { accepting.start(); });
  log::info("listening")
      .field("address", address.to_string())
      .field("port", unsigned{port})
      .field("path", config.server.path)
      .field("threads", loop_count)
      .field("version", DISPATCH_VERSION);

  std::function<void()> wait_for_signal;
  bool stopping = false;
  std::optional<RefusedReload> refused_reload;
  wait_for_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& error, int signal_number) {
      if (error) return;
      if (signal_number == SIGHUP) {
        reload(options, registry, engine, compiled, refused_reload);
        wait_for_signal();
        return;
      }
      if (stopping) return;
      stopping = true;
      log::info("shutting down").field("signal", signal_number);
      asio::post(engine.loop(0).io(), [&accepting] { accepting.stop(); });
      for (unsigned i = 0; i < loop_count; ++i) {
        EventLoop& loop = engine.loop(i);
        loop.post([&loop] { loop.close_all(ws::close_code::going_away, "going away"); });
      }
      control.stop();
    });
  };
  wait_for_signal();
  control.run();

  // Drain: wait until every connection is gone, or shutdown_grace.
  const auto deadline = std::chrono::steady_clock::now() + compiled->config().server.shutdown_grace;
  while (engine.live_connections().load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // What is still queued on the loops is dropped with them. A pending step's Completion called
  // later (from a thread of the step's own) finds its loop's LoopMailbox closed and does nothing.
  for (unsigned i = 0; i < loop_count; ++i) engine.loop(i).io().stop();
  for (unsigned i = 0; i < loop_count; ++i) engine.loop(i).join_thread();
  log::info("stopped");
  return 0;
}

}  // namespace dispatch
