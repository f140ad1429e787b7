// libFuzzer target: arbitrary bytes as config.yaml through the loader (load_config_text), then
// every event's payload schema through the schema compiler, as `dispatch check` would. It must
// never crash or hang; a result has a config exactly when it has no errors, and every error
// has a message.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/environment.h"
#include "config/loader.h"
#include "schema/schema_compiler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dispatch::config::Environment environment(
      {{"DISPATCH_JWT_SECRET", "0123456789abcdef0123456789abcdef"}, {"PORT", "8080"}}, false);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  dispatch::config::LoadResult result =
      dispatch::config::load_config_text(text, "fuzz.yaml", environment);
  if (result.config.has_value() != result.errors.empty()) std::abort();
  for (const auto& error : result.errors) {
    if (error.message.empty()) std::abort();
    (void)dispatch::config::format_error(error);
  }
  const auto& config = result.config ? result.config : result.partial;
  if (!config) return 0;
  for (const auto& event : config->events) {
    if (!event.schema) continue;
    std::vector<dispatch::config::ConfigError> errors;
    const auto schema = dispatch::schema::compile_schema(*event.schema, "schema", errors);
    if (schema.has_value() != errors.empty()) std::abort();
  }
  return 0;
}
