// A counter that one event loop writes and any thread may read (a /metrics scrape). The writer
// does a relaxed load and store — on x86 a plain add to memory, no locked instruction — so
// counting on the message path costs what a plain integer does; a reader sees a value at most a
// few increments old. Only the owning loop may add().
#pragma once

#include <atomic>
#include <cstdint>

namespace dispatch::metrics {

class LoopCounter {
 public:
  void add(uint64_t amount = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  uint64_t read() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

}  // namespace dispatch::metrics
