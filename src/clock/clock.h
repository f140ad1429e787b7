// The time the engine reads. Each event loop owns one Clock and passes it to whatever needs the
// time: connection timers, step deadlines, rate limits, the error budget, token expiry. A system
// clock reads the kernel's clocks; a manual clock (for `dispatch test` scenarios and unit tests)
// stands still until advance() moves it, so a scenario can say "30 seconds later" and mean it.
#pragma once

#include <chrono>
#include <cstdint>

namespace dispatch {

using SteadyTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  // Reads std::chrono::steady_clock and system_clock.
  static Clock system() { return Clock(); }
  // Starts at `start` (steady) and `unix_seconds` (wall) and moves only with advance().
  static Clock manual(SteadyTime start, int64_t unix_seconds) {
    Clock clock;
    clock.manual_ = true;
    clock.steady_ = start;
    clock.unix_ = std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
    return clock;
  }

  SteadyTime now() const { return manual_ ? steady_ : std::chrono::steady_clock::now(); }
  // Whole seconds since 1970 (token `exp`/`nbf` checks).
  int64_t unix_seconds() const {
    const auto wall = manual_ ? unix_ : std::chrono::system_clock::now();
    return std::chrono::duration_cast<std::chrono::seconds>(wall.time_since_epoch()).count();
  }
  bool is_manual() const { return manual_; }

  // Moves a manual clock forward (both readings); a system clock ignores it.
  void advance(std::chrono::nanoseconds by) {
    if (!manual_ || by.count() <= 0) return;
    steady_ += std::chrono::duration_cast<SteadyTime::duration>(by);
    unix_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
  }

 private:
  Clock() = default;

  bool manual_ = false;
  SteadyTime steady_{};
  std::chrono::system_clock::time_point unix_{};
};

}  // namespace dispatch
