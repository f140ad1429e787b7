// How long a webhook delivery waits before retry n (1, 2, ...): exponential from 200 ms, doubled
// per retry and capped at 10 s, with "equal jitter": half of it fixed, the other half random, so
// that many deliveries failing together (a backend restart) do not come back in lockstep.
#pragma once

#include <chrono>
#include <cstdint>

namespace dispatch::webhook {

inline constexpr std::chrono::milliseconds kFirstRetryDelay{200};
inline constexpr std::chrono::milliseconds kMaxRetryDelay{10'000};

// `random_fraction` in [0, 1): the jitter (0 = the shortest wait, half the exponential step).
std::chrono::milliseconds retry_delay(uint32_t retry, double random_fraction);

}  // namespace dispatch::webhook
