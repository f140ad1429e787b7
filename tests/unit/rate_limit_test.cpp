// Unit tests for the sliding-window rate counter and the per-connection error budget.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "session/error_budget.h"
#include "steps/modifiers/sliding_window.h"

namespace dispatch {
namespace {

using std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

// Windows are aligned to the clock's epoch; tests start at the beginning of window 1000.
TimePoint at(int64_t ms, int64_t window_ms = 1000) {
  return TimePoint{} + milliseconds(1000 * window_ms + ms);
}

int count_allowed(SlidingWindowCounter& counter, std::string_view key, int attempts,
                  TimePoint now) {
  int allowed = 0;
  for (int i = 0; i < attempts; ++i) allowed += counter.hit(key, now).allowed ? 1 : 0;
  return allowed;
}

// Fills window 0 with `limit` hits, then counts how many pass at `elapsed_ms` into window 1.
int allowed_after_full_window(uint32_t limit, int64_t elapsed_ms) {
  SlidingWindowCounter counter(limit, milliseconds(1000));
  EXPECT_EQ(count_allowed(counter, "k", static_cast<int>(limit), at(0)), static_cast<int>(limit));
  return count_allowed(counter, "k", 100, at(1000 + elapsed_ms));
}

TEST(SlidingWindowCounter, AllowsExactlyLimitPerWindow) {
  SlidingWindowCounter counter(5, milliseconds(1000));
  for (int i = 0; i < 5; ++i) {
    const auto decision = counter.hit("user:alice", at(i * 100));
    EXPECT_TRUE(decision.allowed) << i;
    EXPECT_EQ(decision.retry_after_ms, 0);
  }
  const auto sixth = counter.hit("user:alice", at(999));
  EXPECT_FALSE(sixth.allowed);
  EXPECT_GE(sixth.retry_after_ms, 1);
}

TEST(SlidingWindowCounter, RetryAfterIsExact) {
  SlidingWindowCounter counter(5, milliseconds(1000));
  EXPECT_EQ(count_allowed(counter, "k", 5, at(100)), 5);
  // Next window at elapsed e: 5 * (1 - e/1000) + 1 <= 5 first holds at e = 200.
  const auto rejected = counter.hit("k", at(200));
  ASSERT_FALSE(rejected.allowed);
  EXPECT_EQ(rejected.retry_after_ms, 1000);
  const auto early = counter.hit("k", at(200 + rejected.retry_after_ms - 1));
  EXPECT_FALSE(early.allowed);
  EXPECT_EQ(early.retry_after_ms, 1);
  EXPECT_TRUE(counter.hit("k", at(200 + rejected.retry_after_ms)).allowed);
}

TEST(SlidingWindowCounter, RetryAfterWithinCurrentWindow) {
  SlidingWindowCounter counter(4, milliseconds(1000));
  EXPECT_EQ(count_allowed(counter, "k", 4, at(0)), 4);
  // Window 1 at 500 ms: 4 * 0.5 + 2 passes, a third is rejected (2 + 2 + 1 > 4) ...
  EXPECT_EQ(count_allowed(counter, "k", 2, at(1500)), 2);
  const auto rejected = counter.hit("k", at(1500));
  ASSERT_FALSE(rejected.allowed);
  // ... until 4 * (1 - e/1000) + 3 <= 4, i.e. e = 750.
  EXPECT_EQ(rejected.retry_after_ms, 250);
  EXPECT_FALSE(counter.hit("k", at(1749)).allowed);
  EXPECT_TRUE(counter.hit("k", at(1750)).allowed);
}

TEST(SlidingWindowCounter, RetryAfterRoundsUpSubMillisecondTimes) {
  SlidingWindowCounter counter(1, milliseconds(1000));
  const TimePoint start = at(0) + std::chrono::microseconds(300);
  EXPECT_TRUE(counter.hit("k", start).allowed);
  const TimePoint now = at(10) + std::chrono::microseconds(700);
  const auto rejected = counter.hit("k", now);
  ASSERT_FALSE(rejected.allowed);
  // Limit 1: the hit must leave the weighted window entirely, at the start of window 2.
  EXPECT_EQ(rejected.retry_after_ms, 1990);
  EXPECT_FALSE(counter.hit("k", now + milliseconds(rejected.retry_after_ms - 1)).allowed);
  EXPECT_TRUE(counter.hit("k", now + milliseconds(rejected.retry_after_ms)).allowed);
}

TEST(SlidingWindowCounter, RetryAfterMatchesProbesInRandomHistories) {
  std::mt19937 random(12345);
  int probes = 0;
  for (int round = 0; round < 40; ++round) {
    const uint32_t limit = 1 + random() % 7;
    const int64_t window_ms = std::vector<int64_t>{7, 100, 1000, 60000}[random() % 4];
    SlidingWindowCounter counter(limit, milliseconds(window_ms));
    std::vector<int64_t> history;
    int64_t now = 0;
    for (int step = 0; step < 60; ++step) {
      now += static_cast<int64_t>(random() % (window_ms / 3 + 2));
      const auto decision = counter.hit("k", at(now, window_ms));
      if (!decision.allowed) {
        ASSERT_GE(decision.retry_after_ms, 1);
        ++probes;
        // Replay the same history into a fresh counter and probe around retry_after_ms.
        SlidingWindowCounter probe(limit, milliseconds(window_ms));
        for (const int64_t past : history) probe.hit("k", at(past, window_ms));
        const int64_t retry = decision.retry_after_ms;
        if (retry > 1) {
          EXPECT_FALSE(probe.hit("k", at(now + retry - 1, window_ms)).allowed)
              << "round " << round << " step " << step;
        }
        EXPECT_TRUE(probe.hit("k", at(now + retry, window_ms)).allowed)
            << "round " << round << " step " << step;
      }
      history.push_back(now);
    }
  }
  EXPECT_GT(probes, 200);
}

TEST(SlidingWindowCounter, WeightsPreviousWindowByOverlap) {
  // Limit 10, previous window full: estimate = 10 * (1 - elapsed) + current; pass while <= 9.
  EXPECT_EQ(allowed_after_full_window(10, 0), 0);
  EXPECT_EQ(allowed_after_full_window(10, 250), 2);  // 7.5 + current + 1 <= 10
  EXPECT_EQ(allowed_after_full_window(10, 500), 5);  // 5 + current + 1 <= 10
  EXPECT_EQ(allowed_after_full_window(10, 750), 7);  // 2.5 + current + 1 <= 10
  EXPECT_EQ(allowed_after_full_window(10, 999), 9);
  EXPECT_EQ(allowed_after_full_window(10, 1000), 10);  // window 2: window 0 no longer counts
}

TEST(SlidingWindowCounter, RejectedAttemptsDoNotCount) {
  SlidingWindowCounter counter(2, milliseconds(1000));
  EXPECT_EQ(count_allowed(counter, "k", 2, at(0)), 2);
  EXPECT_EQ(count_allowed(counter, "k", 50, at(500)), 0);
  // Had the 50 rejections counted, window 1 would be blocked; with 2 counted, 2 * 0.5 + 1 <= 2.
  EXPECT_EQ(count_allowed(counter, "k", 5, at(1500)), 1);
}

TEST(SlidingWindowCounter, KeysAreIndependent) {
  SlidingWindowCounter counter(1, milliseconds(1000));
  EXPECT_TRUE(counter.hit("alice:send", at(0)).allowed);
  EXPECT_TRUE(counter.hit("bob:send", at(0)).allowed);
  EXPECT_TRUE(counter.hit("alice:join", at(0)).allowed);
  EXPECT_FALSE(counter.hit("alice:send", at(1)).allowed);
  EXPECT_FALSE(counter.hit("bob:send", at(1)).allowed);
  EXPECT_EQ(counter.size(), 3u);
}

TEST(SlidingWindowCounter, ForgetsKeysIdleForTwoWindows) {
  SlidingWindowCounter counter(1, milliseconds(1000));
  for (int i = 0; i < 100; ++i) counter.hit("key" + std::to_string(i), at(10));
  EXPECT_EQ(counter.size(), 100u);
  counter.forget_idle(at(1999));  // window 1: window 0 still weighs in
  EXPECT_EQ(counter.size(), 100u);
  EXPECT_FALSE(counter.hit("key7", at(1000)).allowed);
  counter.forget_idle(at(2000));  // window 2: keys idle since window 0 are gone; key7 remains
  EXPECT_EQ(counter.size(), 1u);
  counter.forget_idle(at(2999));  // key7 was touched (by a rejected hit) in window 1
  EXPECT_EQ(counter.size(), 1u);
  counter.forget_idle(at(3000));
  EXPECT_EQ(counter.size(), 0u);
}

TEST(SlidingWindowCounter, ForgetsIdleKeysWithoutExplicitSweep) {
  SlidingWindowCounter counter(3, milliseconds(1000));
  for (int i = 0; i < 1000; ++i) counter.hit("old" + std::to_string(i), at(0));
  EXPECT_EQ(counter.size(), 1000u);
  // Later traffic on other keys reaches every shard and drops the old generation.
  for (int i = 0; i < 200; ++i) counter.hit("new" + std::to_string(i), at(5000));
  EXPECT_EQ(counter.size(), 200u);
}

TEST(SlidingWindowCounter, LimitZeroRejectsEverything) {
  SlidingWindowCounter counter(0, milliseconds(1000));
  const auto decision = counter.hit("k", at(0));
  EXPECT_FALSE(decision.allowed);
  EXPECT_GE(decision.retry_after_ms, 1);
  EXPECT_EQ(counter.size(), 0u);
}

TEST(SlidingWindowCounter, KeyBoundCapsMemoryAndKeepsCountingKnownKeys) {
  SlidingWindowCounter counter(1, milliseconds(1000), 160);  // 10 keys per shard
  EXPECT_TRUE(counter.hit("watched", at(0)).allowed);
  for (int i = 0; i < 10000; ++i) counter.hit("flood-" + std::to_string(i), at(1));
  EXPECT_LE(counter.size(), 160u);
  // The key counted before the flood is still counted: its second attempt is refused.
  EXPECT_FALSE(counter.hit("watched", at(2)).allowed);
  // A key the full table could not remember passes, uncounted, every time.
  std::string uncounted;
  for (int i = 0; i < 10000 && uncounted.empty(); ++i) {
    const std::string key = "late-" + std::to_string(i);
    if (counter.hit(key, at(3)).allowed && counter.hit(key, at(3)).allowed) uncounted = key;
  }
  EXPECT_FALSE(uncounted.empty());
  // Two windows later the flood is forgotten and new keys are counted again.
  EXPECT_TRUE(counter.hit("fresh", at(2000)).allowed);
  EXPECT_FALSE(counter.hit("fresh", at(2001)).allowed);
}

TEST(SlidingWindowCounter, ConcurrentHitsNeverExceedLimit) {
  constexpr uint32_t kLimit = 1000;
  constexpr int kThreads = 4;
  SlidingWindowCounter counter(kLimit, milliseconds(1000));
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        // Every thread's times fall inside window 0, slightly out of order between threads.
        if (counter.hit("shared", at((i * 7 + t * 13) % 1000)).allowed) ++allowed;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), static_cast<int>(kLimit));
}

TEST(SlidingWindowCounter, ConcurrentHitsAcrossWindowsAndKeys) {
  constexpr uint32_t kLimit = 20;
  constexpr int64_t kWindowMs = 50;
  constexpr int kKeys = 8;
  constexpr int kSteps = 4000;
  constexpr int kWindows = kSteps / kWindowMs + 1;
  SlidingWindowCounter counter(kLimit, milliseconds(kWindowMs));
  // allowed[key][fixed window]: passes inside one fixed window can never exceed the limit.
  std::vector<std::atomic<int>> allowed(kKeys * kWindows);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSteps; ++i) {
        const int64_t now_ms = std::max(0, i - t);  // threads lag each other by a few ms
        const int key = (i * 5 + t) % kKeys;
        if (counter.hit("key" + std::to_string(key), at(now_ms, kWindowMs)).allowed) {
          ++allowed[key * kWindows + now_ms / kWindowMs];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  int total = 0;
  for (const auto& count : allowed) {
    EXPECT_LE(count.load(), static_cast<int>(kLimit));
    total += count.load();
  }
  EXPECT_GT(total, 0);
  EXPECT_LE(counter.size(), static_cast<size_t>(kKeys));
}

TEST(SlidingWindowCounter, ConcurrentSweepsWhileHitting) {
  // forget_idle and size() from another thread while hits move keys across windows: no count is
  // lost or doubled by a sweep, so no fixed window ever passes more than the limit for a key.
  constexpr uint32_t kLimit = 10;
  constexpr int64_t kWindowMs = 20;
  constexpr int kKeys = 16;
  constexpr int kSteps = 2000;
  constexpr int kWindows = kSteps / kWindowMs + 1;
  SlidingWindowCounter counter(kLimit, milliseconds(kWindowMs));
  std::vector<std::atomic<int>> allowed(kKeys * kWindows);
  std::atomic<int> hitters_done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSteps; ++i) {
        const int key = (i * 3 + t) % kKeys;
        if (counter.hit("key" + std::to_string(key), at(i, kWindowMs)).allowed) {
          ++allowed[key * kWindows + i / kWindowMs];
        }
      }
      ++hitters_done;
    });
  }
  threads.emplace_back([&] {
    for (int64_t sweep = 0; hitters_done.load() < 2; ++sweep) {
      counter.forget_idle(at(sweep % kSteps, kWindowMs));
      EXPECT_LE(counter.size(), static_cast<size_t>(kKeys));
    }
  });
  for (auto& thread : threads) thread.join();
  for (const auto& count : allowed) EXPECT_LE(count.load(), static_cast<int>(kLimit));
}

// ---- error budget ----

TEST(ErrorBudget, FitsInSixteenBytes) {
  EXPECT_LE(sizeof(ErrorBudget), 16u);
}

TEST(ErrorBudget, AllowsCountErrorsPerWindow) {
  ErrorBudget budget;
  const milliseconds window(10'000);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(budget.spend(at(i, 10'000), 10, window)) << i;
  EXPECT_FALSE(budget.spend(at(9'999, 10'000), 10, window));
}

TEST(ErrorBudget, WeightsPreviousWindow) {
  const milliseconds window(1000);
  const auto spend_until_refused = [&](int64_t elapsed_in_next_window) {
    ErrorBudget budget;
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(budget.spend(at(0), 4, window));
    int spent = 0;
    while (budget.spend(at(1000 + elapsed_in_next_window), 4, window)) ++spent;
    return spent;
  };
  EXPECT_EQ(spend_until_refused(0), 0);    // 4 + current <= 4
  EXPECT_EQ(spend_until_refused(250), 1);  // 3 + current <= 4
  EXPECT_EQ(spend_until_refused(500), 2);  // 2 + current <= 4
  EXPECT_EQ(spend_until_refused(750), 3);  // 1 + current <= 4
  EXPECT_EQ(spend_until_refused(1000), 4);
}

TEST(ErrorBudget, RecoversAfterTwoWindows) {
  ErrorBudget budget;
  const milliseconds window(1000);
  EXPECT_TRUE(budget.spend(at(0), 1, window));
  EXPECT_FALSE(budget.spend(at(1), 1, window));
  EXPECT_FALSE(budget.spend(at(1999), 1, window));  // 2 * 0.001 + 1 > 1
  EXPECT_TRUE(budget.spend(at(3000), 1, window));
}

TEST(ErrorBudget, ZeroCountRefusesFirstError) {
  ErrorBudget budget;
  EXPECT_FALSE(budget.spend(at(0), 0, milliseconds(1000)));
}

TEST(ErrorBudget, ChangedWindowStartsAfresh) {
  ErrorBudget budget;
  EXPECT_TRUE(budget.spend(at(0), 1, milliseconds(1000)));
  EXPECT_FALSE(budget.spend(at(1), 1, milliseconds(1000)));
  // A reload to a longer window maps `now` to a different window index.
  EXPECT_TRUE(budget.spend(at(2), 1, milliseconds(60'000)));
}

}  // namespace
}  // namespace dispatch
