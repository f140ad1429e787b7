// Per-connection error budget (`server.error_budget`, SPEC 4): how many error replies a
// connection may earn before it is closed with 1008 "too many errors".
#pragma once

#include <chrono>
#include <cstdint>

namespace dispatch {

// Single-threaded (owned by one connection). Uses the same sliding-window estimate as
// `rate_limit`: previous * (1 - elapsed_in_current / window) + current. The allowance is passed
// on every call rather than stored, to keep each connection's state at 16 bytes.
class ErrorBudget {
 public:
  // Records one error at `now`. Returns false once the estimated number of errors in the
  // sliding window exceeds `count`; the caller then closes the connection.
  bool spend(std::chrono::steady_clock::time_point now, uint32_t count,
             std::chrono::milliseconds window);

 private:
  int64_t window_index_ = 0;  // the fixed window `current_` belongs to
  uint32_t current_ = 0;
  uint32_t previous_ = 0;  // errors in window_index_ - 1
};

static_assert(sizeof(ErrorBudget) <= 16);

}  // namespace dispatch
