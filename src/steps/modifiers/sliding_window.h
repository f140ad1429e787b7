// Sliding-window rate counter shared by event-loop threads (SPEC 4.2, `rate_limit`).
//
// Time is cut into fixed windows of `window` length. A key's estimate at time t is
//   previous * (1 - elapsed_in_current / window) + current
// and an attempt passes when estimate + 1 <= limit; only passing attempts are counted.
// Times are taken at whole-millisecond resolution.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace dispatch {

class SlidingWindowCounter {
 public:
  struct Decision {
    bool allowed = false;
    int64_t retry_after_ms = 0;  // 0 when allowed; else the smallest wait that would pass (>= 1)
  };

  // max_keys (0 = no bound) caps the keys remembered at once, spread evenly over the shards;
  // a new key arriving at a full shard passes without being counted (see hit()).
  SlidingWindowCounter(uint32_t limit, std::chrono::milliseconds window, size_t max_keys = 0);

  // Records an attempt for `key` at `now`. Thread-safe. A key that is not remembered while its
  // shard already holds its share of max_keys passes uncounted: a flood of distinct keys costs
  // bounded memory and never refuses a key that is being counted.
  Decision hit(std::string_view key, std::chrono::steady_clock::time_point now);

  // Forgets keys whose counts no longer matter at `now` (idle since before the previous window).
  // hit() does the same for its own shard as windows pass, so calling this is optional.
  void forget_idle(std::chrono::steady_clock::time_point now);

  // Number of keys currently remembered.
  size_t size() const;

 private:
  struct Counts {
    int64_t window_index = 0;  // the fixed window `current` belongs to
    uint32_t current = 0;
    uint32_t previous = 0;  // count of window_index - 1
  };

  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const noexcept {
      return std::hash<std::string_view>{}(key);
    }
  };

  using KeyMap = std::unordered_map<std::string, Counts, KeyHash, std::equal_to<>>;

  // Keys live in two generations: touched in the shard's current window, or in the one before.
  // When the shard reaches a new window the older generation is dropped wholesale, so idle keys
  // go without a timer or a per-key scan, and a live key moves between generations without
  // reallocating (node extract/insert).
  struct alignas(64) Shard {  // one cache line apart: shards are locked by different threads
    mutable std::mutex mutex;
    int64_t window_index = 0;
    KeyMap touched_this_window;
    KeyMap touched_last_window;
  };

  static constexpr size_t kShardCount = 16;

  int64_t window_index_of(int64_t now_ms) const;
  void advance_shard(Shard& shard, int64_t window_index) const;
  Decision decide(Counts& counts, int64_t now_ms) const;

  uint32_t limit_;
  int64_t window_ms_;
  size_t max_keys_per_shard_;  // 0: no bound
  std::array<Shard, kShardCount> shards_;
};

}  // namespace dispatch
