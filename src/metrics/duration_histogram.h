// A latency histogram one event loop writes (single writer, like LoopCounter) and a scrape
// reads: fixed buckets from 1 µs to 1 s, counts per bucket (not cumulative: the exposition sums
// them), and the sum in nanoseconds.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "metrics/loop_counter.h"

namespace dispatch::metrics {

class DurationHistogram {
 public:
  // Upper bounds in nanoseconds; the last bucket (+Inf) is implied.
  static constexpr std::array<uint64_t, 16> kBoundsNs = {
      1'000,      2'500,       5'000,       10'000,       25'000,    50'000,
      100'000,    250'000,     500'000,     1'000'000,    5'000'000, 10'000'000,
      50'000'000, 100'000'000, 500'000'000, 1'000'000'000};

  void observe(std::chrono::nanoseconds duration) {
    const auto ns = static_cast<uint64_t>(duration.count() < 0 ? 0 : duration.count());
    size_t bucket = 0;
    while (bucket < kBoundsNs.size() && ns > kBoundsNs[bucket]) ++bucket;
    buckets_[bucket].add();
    sum_ns_.add(ns);
  }
  uint64_t bucket_count(size_t bucket) const { return buckets_[bucket].read(); }  // not cumulative
  uint64_t sum_ns() const { return sum_ns_.read(); }

 private:
  std::array<LoopCounter, kBoundsNs.size() + 1> buckets_;
  LoopCounter sum_ns_;
};

// Times one message out of every kSampleEvery on a loop: two clock reads per message would cost
// a few percent of the message path; one in 64 costs nothing measurable and still draws the
// distribution. Measures with the steady clock, not the loop's Clock: this is the CPU time the
// loop spends, which a manual (test) clock does not see.
class SampledTimer {
 public:
  static constexpr uint32_t kSampleEvery = 64;

  SampledTimer(uint32_t& countdown, DurationHistogram& into) : into_(into) {
    if (--countdown == 0) {
      countdown = kSampleEvery;
      start_ = std::chrono::steady_clock::now();
      timing_ = true;
    }
  }
  ~SampledTimer() {
    if (timing_) into_.observe(std::chrono::steady_clock::now() - start_);
  }
  SampledTimer(const SampledTimer&) = delete;
  SampledTimer& operator=(const SampledTimer&) = delete;

 private:
  DurationHistogram& into_;
  std::chrono::steady_clock::time_point start_;
  bool timing_ = false;
};

}  // namespace dispatch::metrics
