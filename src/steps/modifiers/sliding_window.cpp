// Sliding-window rate counter: sharded key map, exact retry-after computation.
#include "steps/modifiers/sliding_window.h"

#include <algorithm>
#include <limits>

namespace dispatch {
namespace {

// Products like previous * window_ms overflow int64 for long windows and large limits.
__extension__ using Wide = __int128;

int64_t floor_div(int64_t value, int64_t divisor) {
  int64_t quotient = value / divisor;
  if (value % divisor < 0) --quotient;
  return quotient;
}

int64_t to_ms(std::chrono::steady_clock::time_point now) {
  return std::chrono::floor<std::chrono::milliseconds>(now.time_since_epoch()).count();
}

}  // namespace

SlidingWindowCounter::SlidingWindowCounter(uint32_t limit, std::chrono::milliseconds window,
                                           size_t max_keys)
    : limit_(limit),
      window_ms_(std::max<int64_t>(1, window.count())),
      max_keys_per_shard_(max_keys == 0 ? 0 : std::max<size_t>(1, max_keys / kShardCount)) {
  for (Shard& shard : shards_) shard.window_index = std::numeric_limits<int64_t>::min();
}

int64_t SlidingWindowCounter::window_index_of(int64_t now_ms) const {
  return floor_div(now_ms, window_ms_);
}

void SlidingWindowCounter::advance_shard(Shard& shard, int64_t window_index) const {
  if (window_index <= shard.window_index) return;
  if (window_index == shard.window_index + 1) {
    // Keys last touched two windows ago count for nothing any more: drop them.
    std::swap(shard.touched_this_window, shard.touched_last_window);
    shard.touched_this_window.clear();
  } else {
    shard.touched_this_window.clear();
    shard.touched_last_window.clear();
  }
  shard.window_index = window_index;
}

SlidingWindowCounter::Decision SlidingWindowCounter::decide(Counts& counts, int64_t now_ms) const {
  const Wide window = window_ms_;
  const Wide limit = limit_;
  const Wide elapsed = now_ms - counts.window_index * window_ms_;  // in [0, window)
  const Wide previous = counts.previous;
  const Wide current = counts.current;

  // estimate + 1 <= limit, multiplied through by the window length to stay in integers.
  if (previous * (window - elapsed) + (current + 1) * window <= limit * window) {
    ++counts.current;
    return {true, 0};
  }

  // Still in this window: the smallest elapsed' with previous * (window - elapsed') <= room *
  // window, where room is what remains of the limit after this attempt.
  const Wide room = limit - current - 1;
  if (room >= 0 && previous > 0) {
    const Wide passing_elapsed = window - room * window / previous;
    if (passing_elapsed < window) {
      return {false, std::max<int64_t>(1, static_cast<int64_t>(passing_elapsed - elapsed))};
    }
  }
  // Next window: today's count becomes the weighted previous one and the current count is 0.
  Wide passing_elapsed = 0;
  if (current > 0) {
    passing_elapsed = std::max<Wide>(0, window - (limit - 1) * window / current);
  }
  return {false, std::max<int64_t>(1, static_cast<int64_t>(window - elapsed + passing_elapsed))};
}

SlidingWindowCounter::Decision SlidingWindowCounter::hit(
    std::string_view key, std::chrono::steady_clock::time_point now) {
  if (limit_ == 0) return {false, window_ms_};  // nothing ever passes

  const size_t hash = KeyHash{}(key);
  Shard& shard = shards_[(hash >> (sizeof(size_t) * 8 - 8)) % kShardCount];
  int64_t now_ms = to_ms(now);

  std::lock_guard lock(shard.mutex);
  advance_shard(shard, window_index_of(now_ms));
  // Another thread may have moved the shard past a slightly older `now`: treat it as the start
  // of the shard's window rather than rolling any counts back.
  const int64_t window_index = shard.window_index;
  now_ms = std::max(now_ms, window_index * window_ms_);

  auto found = shard.touched_this_window.find(key);
  if (found == shard.touched_this_window.end()) {
    auto older = shard.touched_last_window.find(key);
    if (older != shard.touched_last_window.end()) {
      found = shard.touched_this_window.insert(shard.touched_last_window.extract(older)).position;
    } else if (max_keys_per_shard_ > 0 &&
               shard.touched_this_window.size() + shard.touched_last_window.size() >=
                   max_keys_per_shard_) {
      return {true, 0};
    } else {
      found = shard.touched_this_window.emplace(std::string(key), Counts{window_index, 0, 0}).first;
    }
  }

  Counts& counts = found->second;
  if (counts.window_index != window_index) {
    counts.previous = counts.window_index + 1 == window_index ? counts.current : 0;
    counts.current = 0;
    counts.window_index = window_index;
  }
  return decide(counts, now_ms);
}

void SlidingWindowCounter::forget_idle(std::chrono::steady_clock::time_point now) {
  const int64_t window_index = window_index_of(to_ms(now));
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    advance_shard(shard, window_index);
  }
}

size_t SlidingWindowCounter::size() const {
  size_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += shard.touched_this_window.size() + shard.touched_last_window.size();
  }
  return total;
}

}  // namespace dispatch
