#include "server/server.h"

#include <sched.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <thread>
#include <tuple>

#include "config/loader.h"
#include "log/log.h"
#include "protocol/websocket.h"
#include "router/compiled_config.h"
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

// Loads and compiles; prints every problem to stderr (startup) or the log (reload).
std::shared_ptr<const CompiledConfig> load(const ServeOptions& options,
                                           const StepRegistry& registry, bool reloading) {
  CheckedConfig checked = check_config(options, registry);
  for (const std::string& warning : checked.warnings) log::warn(warning);
  for (const config::ConfigError& error : checked.errors) {
    if (reloading) {
      log::error("config error").field("error", config::format_error(error));
    } else {
      std::cerr << config::format_error(error) << "\n";
    }
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

}  // namespace

CheckedConfig check_config(const ServeOptions& options, const StepRegistry& registry) {
  CheckedConfig checked;
  config::Environment environment = config::Environment::from_process(
      options.env_file, options.env_file_required, checked.errors);
  if (!checked.errors.empty()) return checked;
  config::LoadResult loaded =
      options.config_path.empty()
          ? config::load_config_text(options.config_text, "<embedded development config>",
                                     environment)
          : config::load_config_file(options.config_path, environment);
  checked.errors = std::move(loaded.errors);
  checked.warnings = std::move(loaded.warnings);
  if (loaded.config && options.address_override) {
    loaded.config->server.host = options.address_override->host;
    loaded.config->server.port = options.address_override->port;
  }
  if (loaded.config) {
    checked.compiled = CompiledConfig::compile(std::move(*loaded.config), registry, checked.errors);
  } else if (loaded.partial) {
    // Only for the steps' own errors: a config with errors never runs.
    CompiledConfig::compile(std::move(*loaded.partial), registry, checked.errors);
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
  std::shared_ptr<const CompiledConfig> compiled = load(options, registry, false);
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

  for (unsigned i = 0; i < loop_count; ++i) engine.loop(i).start_thread();
  asio::post(engine.loop(0).io(), [&accepting] { accepting.start(); });
  log::info("listening")
      .field("address", address.to_string())
      .field("port", unsigned{port})
      .field("path", config.server.path)
      .field("threads", loop_count)
      .field("version", DISPATCH_VERSION);

  asio::io_context control;
  asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
  std::function<void()> wait_for_signal;
  bool stopping = false;
  wait_for_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& error, int signal_number) {
      if (error) return;
      if (signal_number == SIGHUP) {
        log::info("reloading config (SIGHUP)");
        if (auto reloaded = load(options, registry, true)) {
          const auto& before = compiled->config().server;
          const auto& after = reloaded->config().server;
          if (before.host != after.host || before.port != after.port ||
              before.threads != after.threads) {
            log::warn("server.address and server.threads change only on restart");
          }
          log::set_level(log_level_of(reloaded->config().log_level));
          compiled = reloaded;
          for (unsigned i = 0; i < loop_count; ++i) {
            LoopTask task{.kind = LoopTask::Kind::install_config};
            task.config = reloaded;
            engine.loop(i).post_from_outside(std::move(task));
          }
          log::info("config reloaded");
        } else {
          log::error("config reload refused: the running config stays");
        }
        wait_for_signal();
        return;
      }
      if (stopping) return;
      stopping = true;
      log::info("shutting down").field("signal", signal_number);
      asio::post(engine.loop(0).io(), [&accepting] { accepting.stop(); });
      for (unsigned i = 0; i < loop_count; ++i) {
        LoopTask task{.kind = LoopTask::Kind::close_all};
        task.code = ws::close_code::going_away;
        task.reason = "going away";
        engine.loop(i).post_from_outside(std::move(task));
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
