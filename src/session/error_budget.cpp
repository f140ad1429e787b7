// Per-connection error budget on a sliding-window estimate.
#include "session/error_budget.h"

#include <algorithm>
#include <limits>

namespace dispatch {

bool ErrorBudget::spend(std::chrono::steady_clock::time_point now, uint32_t count,
                        std::chrono::milliseconds window) {
  __extension__ using Wide = __int128;  // previous * window_ms can exceed int64
  const int64_t window_ms = std::max<int64_t>(1, window.count());
  const int64_t now_ms =
      std::chrono::floor<std::chrono::milliseconds>(now.time_since_epoch()).count();
  int64_t window_index = now_ms / window_ms;
  if (now_ms % window_ms < 0) --window_index;

  if (window_index != window_index_) {
    // An earlier index only happens when the configured window changed: start afresh.
    previous_ = window_index == window_index_ + 1 ? current_ : 0;
    current_ = 0;
    window_index_ = window_index;
  }
  const int64_t elapsed = now_ms - window_index * window_ms;
  if (current_ < std::numeric_limits<uint32_t>::max()) ++current_;

  // previous * (1 - elapsed / window) + current <= count, scaled by the window length.
  return Wide{previous_} * (window_ms - elapsed) + Wide{current_} * window_ms <=
         Wide{count} * window_ms;
}

}  // namespace dispatch
