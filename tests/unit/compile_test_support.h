// config.yaml text → CompiledConfig, as `dispatch serve` builds it: the built-in steps plus any a
// test adds, ${DISPATCH_JWT_SECRET} set to a test secret. Any load or compile error fails the
// test (and gives nullptr). Shared by every unit test that needs a compiled config.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config_test_support.h"
#include "dispatch/extension.h"
#include "pipeline/compiled_config.h"

namespace dispatch::test_support {

inline std::shared_ptr<const CompiledConfig> compile_config(
    std::string_view yaml, const std::function<void(StepRegistry&)>& add_steps = {}) {
  config::LoadResult loaded = config::test_support::load(yaml);
  for (const auto& error : loaded.errors) ADD_FAILURE() << config::format_error(error);
  if (!loaded.config) return nullptr;
  StepRegistry registry;
  register_builtin_steps(registry);
  if (add_steps) add_steps(registry);
  std::vector<config::ConfigError> errors;
  auto compiled = CompiledConfig::compile(std::move(*loaded.config), registry, errors);
  for (const auto& error : errors) ADD_FAILURE() << config::format_error(error);
  return compiled;
}

// Every load and compile error of a config.yaml text, formatted as `dispatch check` prints them
// (for tests of what a config must refuse).
inline std::vector<std::string> compile_errors(std::string_view yaml) {
  config::LoadResult loaded = config::test_support::load(yaml);
  std::vector<std::string> lines = config::test_support::error_lines(loaded);
  if (!loaded.config) return lines;
  StepRegistry registry;
  register_builtin_steps(registry);
  std::vector<config::ConfigError> errors;
  CompiledConfig::compile(std::move(*loaded.config), registry, errors);
  for (const auto& error : errors) lines.push_back(config::format_error(error));
  return lines;
}

}  // namespace dispatch::test_support
