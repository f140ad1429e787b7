// The value syntaxes of config.yaml that are not plain YAML: durations ("250ms", "30s", "5m",
// "1h", combined as "1m30s", or "0"), sizes ("64KiB", "1MiB", "1GiB" or plain bytes) and rates
// ("10/m", "10/10s": a count per window). Also used by steps whose params hold such values
// (e.g. rate_limit's "10/m").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace dispatch::config {

// A parsed value, or a message saying what was expected (without echoing the input, so the
// caller decides whether it may be shown).
template <typename T>
struct ParseResult {
  std::optional<T> value;
  std::string error;  // set exactly when `value` is empty

  explicit operator bool() const { return value.has_value(); }
};

ParseResult<Duration> parse_duration(std::string_view text);
ParseResult<uint64_t> parse_size(std::string_view text);
ParseResult<RateSpec> parse_rate(std::string_view text);

}  // namespace dispatch::config
