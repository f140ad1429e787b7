#include "webhook/retry_backoff.h"

#include <algorithm>

namespace dispatch::webhook {

std::chrono::milliseconds retry_delay(uint32_t retry, double random_fraction) {
  const uint32_t doublings = std::min<uint32_t>(retry == 0 ? 0 : retry - 1, 16);
  const int64_t step =
      std::min<int64_t>(kFirstRetryDelay.count() << doublings, kMaxRetryDelay.count());
  const double fraction = std::clamp(random_fraction, 0.0, 1.0);
  return std::chrono::milliseconds(step / 2 + static_cast<int64_t>(fraction * (step - step / 2)));
}

}  // namespace dispatch::webhook
