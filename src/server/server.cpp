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
#include "server/config_reloader.h"
#include "server/engine.h"
#include "server/event_loop.h"

namespace dispatch {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

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

// Binds host:port once, without SO_REUSEPORT: a port held by any other socket is an error, never
// shared. `key` names the setting in the error.
std::optional<tcp::acceptor> bind_listener(Engine& engine, const std::string& host, uint16_t port,
                                           std::string_view key) {
  boost::system::error_code ec;
  asio::ip::address address = host.empty() ? asio::ip::address(asio::ip::address_v4::any())
                                           : asio::ip::make_address(host, ec);
  if (ec) {
    asio::io_context resolver_context;
    tcp::resolver resolver(resolver_context);
    auto results = resolver.resolve(host, "", ec);
    if (ec || results.empty()) {
      std::cerr << "cannot resolve " << key << " host `" << host << "`\n";
      return std::nullopt;
    }
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, port);
  tcp::acceptor acceptor(engine.loop(0).io());
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  // Accepted sockets inherit it: no setsockopt per connection.
  if (!ec) acceptor.set_option(tcp::no_delay(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "cannot listen on " << endpoint << " (" << key << "): " << ec.message()
              << (ec == asio::error::address_in_use
                      ? " (another process holds the port; stop it or change " + std::string(key) +
                            ")"
                      : "")
              << "\n";
    log::error("cannot listen")
        .field("address", address.to_string())
        .field("port", unsigned{port})
        .field("error", ec.message());
    return std::nullopt;
  }
  return acceptor;
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

  std::optional<tcp::acceptor> listener =
      bind_listener(engine, config.server.host, config.server.port, "server.address");
  if (!listener) return 1;
  const tcp::endpoint endpoint = listener->local_endpoint();
  Acceptor accepting(engine, std::move(*listener));
  std::optional<Acceptor> admin_accepting;
  std::optional<tcp::endpoint> admin_endpoint;
  if (const auto& admin = config.server.admin_address) {
    std::optional<tcp::acceptor> admin_listener =
        bind_listener(engine, admin->host, admin->port, "server.admin_address");
    if (!admin_listener) return 1;
    admin_endpoint = admin_listener->local_endpoint();
    admin_accepting.emplace(engine, std::move(*admin_listener), Listener::admin);
  }

  // Signal handlers before the `listening` line: a SIGHUP or SIGTERM sent as soon as it appears
  // is queued for the handler below, never the default action (which kills the process).
  asio::io_context control;
  asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
  // SIGHUP and POST /api/reload both reload on this thread, one at a time.
  ConfigReloader reloader(options, registry, engine, compiled);
  engine.set_reload_requester([&control, &reloader](auto done) {
    asio::post(control,
               [&reloader, done = std::move(done)] { done(reloader.reload("POST /api/reload")); });
  });
  for (unsigned i = 0; i < loop_count; ++i) engine.loop(i).start_thread();
  asio::post(engine.loop(0).io(), [&accepting, &admin_accepting] {
    accepting.start();
    if (admin_accepting) admin_accepting->start();
  });
  if (admin_endpoint) {
    log::info("admin listening")
        .field("address", admin_endpoint->address().to_string())
        .field("port", unsigned{admin_endpoint->port()});
  }
  log::info("listening")
      .field("address", endpoint.address().to_string())
      .field("port", unsigned{endpoint.port()})
      .field("path", config.server.path)
      .field("threads", loop_count)
      .field("version", DISPATCH_VERSION);

  std::function<void()> wait_for_signal;
  bool stopping = false;
  wait_for_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& error, int signal_number) {
      if (error) return;
      if (signal_number == SIGHUP) {
        reloader.reload("SIGHUP");
        wait_for_signal();
        return;
      }
      if (stopping) return;
      stopping = true;
      log::info("shutting down").field("signal", signal_number);
      asio::post(engine.loop(0).io(), [&accepting, &admin_accepting] {
        accepting.stop();
        if (admin_accepting) admin_accepting->stop();
      });
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
  const auto deadline =
      std::chrono::steady_clock::now() + reloader.running().config().server.shutdown_grace;
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
