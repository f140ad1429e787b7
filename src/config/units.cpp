#include "config/units.h"

#include <limits>

namespace dispatch::config {

namespace {

constexpr std::string_view kDurationExpected = "expected a duration like 250ms, 30s, 5m or 1h";
constexpr std::string_view kSizeExpected = "expected a size like 65536, 64KiB, 1MiB or 1GiB";
constexpr std::string_view kRateExpected = "expected a rate like 10/s, 10/m or 10/10s";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads the decimal digits at the front of `text` into `number`; false when there are none or
// they overflow.
bool take_number(std::string_view& text, uint64_t& number) {
  size_t length = 0;
  number = 0;
  while (length < text.size() && is_digit(text[length])) {
    const uint64_t digit = static_cast<uint64_t>(text[length] - '0');
    if (number > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    number = number * 10 + digit;
    ++length;
  }
  text.remove_prefix(length);
  return length > 0;
}

template <typename T>
ParseResult<T> failure(std::string_view message) {
  return {std::nullopt, std::string(message)};
}

}  // namespace

ParseResult<Duration> parse_duration(std::string_view text) {
  if (text == "0") return {Duration{0}, {}};
  if (text.empty()) return failure<Duration>(kDurationExpected);

  // Milliseconds are kept in int64 (Duration's rep); anything near its limit is surely a typo.
  constexpr uint64_t kMaxMilliseconds = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t total_ms = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    uint64_t number = 0;
    if (!take_number(rest, number)) return failure<Duration>(kDurationExpected);
    uint64_t unit_ms = 0;
    if (rest.starts_with("ms")) {
      unit_ms = 1;
      rest.remove_prefix(2);
    } else if (rest.starts_with("s")) {
      unit_ms = 1000;
      rest.remove_prefix(1);
    } else if (rest.starts_with("m")) {
      unit_ms = 60 * 1000;
      rest.remove_prefix(1);
    } else if (rest.starts_with("h")) {
      unit_ms = 60 * 60 * 1000;
      rest.remove_prefix(1);
    } else if (rest.empty()) {
      return failure<Duration>(std::string(kDurationExpected) + " (a number needs a unit)");
    } else {
      return failure<Duration>(kDurationExpected);
    }
    if (number > (kMaxMilliseconds - total_ms) / unit_ms) {
      return failure<Duration>(std::string(kDurationExpected) + " (this one is far too long)");
    }
    total_ms += number * unit_ms;
  }
  return {Duration{static_cast<Duration::rep>(total_ms)}, {}};
}

ParseResult<uint64_t> parse_size(std::string_view text) {
  std::string_view rest = text;
  uint64_t number = 0;
  if (!take_number(rest, number)) return failure<uint64_t>(kSizeExpected);
  const std::string_view number_text = text.substr(0, text.size() - rest.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);

  uint64_t multiplier = 0;
  if (rest.empty() || rest == "B") {
    multiplier = 1;
  } else if (rest == "KiB") {
    multiplier = uint64_t{1} << 10;
  } else if (rest == "MiB") {
    multiplier = uint64_t{1} << 20;
  } else if (rest == "GiB") {
    multiplier = uint64_t{1} << 30;
  } else {
    // KB/MB/GB are ambiguous (1000 or 1024?); point at the binary unit instead of guessing.
    std::string_view binary_unit;
    if (rest == "K" || rest == "k" || rest == "KB" || rest == "kB" || rest == "kb" ||
        rest == "kib" || rest == "Ki") {
      binary_unit = "KiB";
    } else if (rest == "M" || rest == "MB" || rest == "mb" || rest == "mib" || rest == "Mi") {
      binary_unit = "MiB";
    } else if (rest == "G" || rest == "GB" || rest == "gb" || rest == "gib" || rest == "Gi") {
      binary_unit = "GiB";
    }
    if (binary_unit.empty()) return failure<uint64_t>(kSizeExpected);
    return failure<uint64_t>(std::string(kSizeExpected) + " (did you mean `" +
                             std::string(number_text) + std::string(binary_unit) + "`?)");
  }
  if (number > std::numeric_limits<uint64_t>::max() / multiplier) {
    return failure<uint64_t>(std::string(kSizeExpected) + " (this one is far too large)");
  }
  return {number * multiplier, {}};
}

ParseResult<RateSpec> parse_rate(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return failure<RateSpec>(kRateExpected);
  std::string_view count_text = text.substr(0, slash);
  const std::string_view window_text = text.substr(slash + 1);

  uint64_t count = 0;
  if (!take_number(count_text, count) || !count_text.empty() ||
      count > std::numeric_limits<uint32_t>::max()) {
    return failure<RateSpec>(kRateExpected);
  }

  Duration window{0};
  if (window_text == "s") {
    window = std::chrono::seconds(1);
  } else if (window_text == "m") {
    window = std::chrono::minutes(1);
  } else if (window_text == "h") {
    window = std::chrono::hours(1);
  } else {
    const auto parsed = parse_duration(window_text);
    if (!parsed) return failure<RateSpec>(kRateExpected);
    window = *parsed.value;
  }
  if (window.count() <= 0) {
    return failure<RateSpec>(std::string(kRateExpected) + " (the window must be longer than 0)");
  }
  return {RateSpec{static_cast<uint32_t>(count), window}, {}};
}

}  // namespace dispatch::config
