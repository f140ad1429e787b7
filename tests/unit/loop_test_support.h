// An Engine whose loops never start their threads: a unit test drives each loop's io_context by
// hand (run_ready), so what one loop hands to another can be seen step by step. Connections are
// made without a socket (descriptor -1) and stay in the handshaking state: enough for the room
// and directory bookkeeping, which does not look at the socket.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config_test_support.h"
#include "dispatch/extension.h"
#include "pipeline/compiled_config.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "server/connection.h"

namespace dispatch::test_support {

inline std::shared_ptr<const CompiledConfig> minimal_compiled_config(
    const std::string& extra_server_yaml = "") {
  const std::string text = "server:\n  address: \"127.0.0.1:0\"\n" + extra_server_yaml +
                           "auth:\n  jwt:\n    secret: ${DISPATCH_JWT_SECRET}\nevents: {}\n";
  config::LoadResult loaded = config::test_support::load(text);
  EXPECT_TRUE(loaded.config) << (loaded.errors.empty() ? ""
                                                       : config::format_error(loaded.errors[0]));
  if (!loaded.config) return nullptr;
  StepRegistry registry;
  register_builtin_steps(registry);
  std::vector<config::ConfigError> errors;
  auto compiled = CompiledConfig::compile(std::move(*loaded.config), registry, errors);
  EXPECT_TRUE(errors.empty());
  return compiled;
}

// Runs the handlers that are ready on the loop's io_context; returns how many ran.
inline size_t run_ready(EventLoop& loop) {
  loop.io().restart();
  return loop.io().poll();
}

// A connection of `loop` without a socket; owned by the caller.
inline std::unique_ptr<Connection> socketless_connection(EventLoop& loop) {
  return std::make_unique<Connection>(loop, -1, loop.engine().next_connection_number(), nullptr);
}

}  // namespace dispatch::test_support
