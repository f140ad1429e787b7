// Tests of the per-loop timer wheel (src/transport/timer_wheel.h), driven by a fake clock:
// deadlines are met (never early, at most one resolution late), also beyond one turn of the
// wheel, after a stall, with rescheduling, cancelling and entries that reschedule themselves.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "transport/timer_wheel.h"

namespace dispatch {
namespace {

using std::chrono::milliseconds;

const SteadyTime kStart = SteadyTime{} + std::chrono::hours(1000);
constexpr milliseconds kResolution = TimerWheel::resolution;
const milliseconds kTurn = kResolution * static_cast<int64_t>(TimerWheel::slot_count);

class RecordingEntry : public TimerEntry {
 public:
  void on_timer(SteadyTime now) override {
    fired.push_back(now);
    if (then) then(now);
  }
  std::vector<SteadyTime> fired;
  std::function<void(SteadyTime)> then;
};

milliseconds since_start(SteadyTime time) {
  return std::chrono::duration_cast<milliseconds>(time - kStart);
}

// Advances the wheel from `from` to `to` in steps of `step`.
void run(TimerWheel& wheel, milliseconds from, milliseconds to,
         milliseconds step = milliseconds(1)) {
  for (milliseconds t = from; t <= to; t += step) wheel.advance(kStart + t);
}

TEST(TimerWheel, FiresNotBeforeTheDeadlineAndWithinOneResolution) {
  for (int64_t deadline_ms : {0, 1, 49, 50, 51, 99, 100, 123, 1000, 12345}) {
    SCOPED_TRACE(deadline_ms);
    TimerWheel wheel(kStart);
    RecordingEntry entry;
    const milliseconds deadline(deadline_ms);
    wheel.schedule(entry, kStart + deadline);
    run(wheel, milliseconds(0), deadline + 3 * kResolution);
    ASSERT_EQ(entry.fired.size(), 1u);
    const milliseconds fired = since_start(entry.fired[0]);
    EXPECT_GE(fired, deadline);
    EXPECT_LE(fired, deadline + kResolution);
  }
}

TEST(TimerWheel, DoesNotFireEarlyWhenTheClockJumpsNearTheDeadline) {
  TimerWheel wheel(kStart);
  RecordingEntry entry;
  wheel.schedule(entry, kStart + milliseconds(1010));
  wheel.advance(kStart + milliseconds(1000));
  wheel.advance(kStart + milliseconds(1009));
  EXPECT_TRUE(entry.fired.empty());
  wheel.advance(kStart + milliseconds(1050));
  ASSERT_EQ(entry.fired.size(), 1u);
  EXPECT_EQ(since_start(entry.fired[0]), milliseconds(1050));
}

TEST(TimerWheel, ReschedulingLaterMovesTheEntry) {
  TimerWheel wheel(kStart);
  RecordingEntry entry;
  wheel.schedule(entry, kStart + milliseconds(100));
  wheel.schedule(entry, kStart + milliseconds(500));
  run(wheel, milliseconds(0), milliseconds(499));
  EXPECT_TRUE(entry.fired.empty());
  run(wheel, milliseconds(500), milliseconds(2000));
  ASSERT_EQ(entry.fired.size(), 1u);
  EXPECT_GE(since_start(entry.fired[0]), milliseconds(500));
  EXPECT_LE(since_start(entry.fired[0]), milliseconds(550));
}

TEST(TimerWheel, ReschedulingEarlierMovesTheEntry) {
  TimerWheel wheel(kStart);
  RecordingEntry entry;
  wheel.schedule(entry, kStart + milliseconds(1000));
  wheel.schedule(entry, kStart + milliseconds(100));
  run(wheel, milliseconds(0), milliseconds(3000));
  ASSERT_EQ(entry.fired.size(), 1u);
  EXPECT_GE(since_start(entry.fired[0]), milliseconds(100));
  EXPECT_LE(since_start(entry.fired[0]), milliseconds(150));
}

TEST(TimerWheel, CancelledEntryNeverFires) {
  TimerWheel wheel(kStart);
  RecordingEntry entry;
  RecordingEntry other;
  wheel.schedule(entry, kStart + milliseconds(100));
  wheel.schedule(other, kStart + milliseconds(100));
  TimerWheel::cancel(entry);
  TimerWheel::cancel(entry);  // twice is harmless
  run(wheel, milliseconds(0), milliseconds(1000));
  EXPECT_TRUE(entry.fired.empty());
  EXPECT_EQ(other.fired.size(), 1u);

  // A cancelled entry can be scheduled again.
  wheel.schedule(entry, kStart + milliseconds(1500));
  run(wheel, milliseconds(1001), milliseconds(2000));
  ASSERT_EQ(entry.fired.size(), 1u);
  EXPECT_GE(since_start(entry.fired[0]), milliseconds(1500));
}

TEST(TimerWheel, CancellingAnUnscheduledEntryIsHarmless) {
  RecordingEntry entry;
  TimerWheel::cancel(entry);
  EXPECT_TRUE(entry.fired.empty());
}

TEST(TimerWheel, DestroyedEntryLeavesTheWheel) {
  TimerWheel wheel(kStart);
  auto doomed = std::make_unique<RecordingEntry>();
  RecordingEntry survivor;
  wheel.schedule(*doomed, kStart + milliseconds(100));
  wheel.schedule(survivor, kStart + milliseconds(100));
  doomed.reset();
  run(wheel, milliseconds(0), milliseconds(200));
  EXPECT_EQ(survivor.fired.size(), 1u);
}

TEST(TimerWheel, DeadlinesBeyondOneTurnFireAtTheRightTime) {
  for (milliseconds deadline : {kTurn - milliseconds(1), kTurn, kTurn + milliseconds(1),
                                kTurn + milliseconds(60), 3 * kTurn + milliseconds(7)}) {
    SCOPED_TRACE(deadline.count());
    TimerWheel wheel(kStart);
    RecordingEntry entry;
    wheel.schedule(entry, kStart + deadline);
    run(wheel, milliseconds(0), deadline - milliseconds(1));
    EXPECT_TRUE(entry.fired.empty()) << "fired early at " << since_start(entry.fired[0]).count();
    run(wheel, deadline, deadline + 2 * kResolution);
    ASSERT_EQ(entry.fired.size(), 1u);
    EXPECT_LE(since_start(entry.fired[0]), deadline + kResolution);
  }
}

TEST(TimerWheel, EntryBeyondOneTurnScheduledLaterInTime) {
  // Scheduled after the wheel has run a while: "one turn" counts from now, not from the start.
  TimerWheel wheel(kStart);
  RecordingEntry entry;
  run(wheel, milliseconds(0), milliseconds(7000), milliseconds(10));
  const milliseconds deadline = milliseconds(7000) + kTurn + milliseconds(25);
  wheel.schedule(entry, kStart + deadline);
  run(wheel, milliseconds(7001), deadline - milliseconds(1), milliseconds(1));
  EXPECT_TRUE(entry.fired.empty());
  run(wheel, deadline, deadline + kResolution);
  ASSERT_EQ(entry.fired.size(), 1u);
  EXPECT_LE(since_start(entry.fired[0]), deadline + kResolution);
}

TEST(TimerWheel, AStallFiresEverythingDueAndNothingElse) {
  TimerWheel wheel(kStart);
  RecordingEntry at_1s, at_30s, at_100s, at_1000s;
  wheel.schedule(at_1s, kStart + std::chrono::seconds(1));
  wheel.schedule(at_30s, kStart + std::chrono::seconds(30));
  wheel.schedule(at_100s, kStart + std::chrono::seconds(100));
  wheel.schedule(at_1000s, kStart + std::chrono::seconds(1000));
  wheel.advance(kStart + std::chrono::seconds(200));  // nearly four turns in one step
  EXPECT_EQ(at_1s.fired.size(), 1u);
  EXPECT_EQ(at_30s.fired.size(), 1u);
  EXPECT_EQ(at_100s.fired.size(), 1u);
  EXPECT_TRUE(at_1000s.fired.empty());
  run(wheel, std::chrono::seconds(200), std::chrono::seconds(999), milliseconds(50));
  EXPECT_TRUE(at_1000s.fired.empty());
  run(wheel, std::chrono::seconds(1000), std::chrono::seconds(1001), milliseconds(50));
  ASSERT_EQ(at_1000s.fired.size(), 1u);
  EXPECT_EQ(since_start(at_1000s.fired[0]), std::chrono::seconds(1000));
  EXPECT_EQ(at_1s.fired.size(), 1u);
}

TEST(TimerWheel, ManyEntriesEachFireOnceOnTime) {
  TimerWheel wheel(kStart);
  std::mt19937 random(99);
  std::uniform_int_distribution<int64_t> deadline_ms(0, 2 * kTurn.count() + 5000);
  std::vector<RecordingEntry> entries(5000);
  std::vector<milliseconds> deadlines;
  for (RecordingEntry& entry : entries) {
    deadlines.emplace_back(deadline_ms(random));
    wheel.schedule(entry, kStart + deadlines.back());
  }
  const milliseconds step(5);
  run(wheel, milliseconds(0), 2 * kTurn + milliseconds(5200), step);
  for (size_t i = 0; i < entries.size(); ++i) {
    ASSERT_EQ(entries[i].fired.size(), 1u) << "entry " << i;
    const milliseconds fired = since_start(entries[i].fired[0]);
    ASSERT_GE(fired, deadlines[i]) << "entry " << i;
    ASSERT_LE(fired, deadlines[i] + kResolution + step) << "entry " << i;
  }
}

TEST(TimerWheel, EntryReschedulingItselfFromOnTimer) {
  TimerWheel wheel(kStart);
  RecordingEntry periodic;
  periodic.then = [&](SteadyTime now) { wheel.schedule(periodic, now + milliseconds(200)); };
  wheel.schedule(periodic, kStart + milliseconds(200));
  run(wheel, milliseconds(0), milliseconds(1100));
  ASSERT_EQ(periodic.fired.size(), 5u);
  for (size_t i = 0; i < periodic.fired.size(); ++i) {
    EXPECT_EQ(since_start(periodic.fired[i]), milliseconds(200) * static_cast<int64_t>(i + 1));
  }
}

TEST(TimerWheel, EntryReschedulingItselfForNowFiresAgainOnlyAtTheNextTick) {
  TimerWheel wheel(kStart);
  RecordingEntry eager;
  eager.then = [&](SteadyTime now) { wheel.schedule(eager, now); };
  wheel.schedule(eager, kStart + milliseconds(100));
  wheel.advance(kStart + milliseconds(100));
  EXPECT_EQ(eager.fired.size(), 1u);
  wheel.advance(kStart + milliseconds(120));
  EXPECT_EQ(eager.fired.size(), 1u);
  wheel.advance(kStart + milliseconds(150));
  EXPECT_EQ(eager.fired.size(), 2u);
  TimerWheel::cancel(eager);
}

TEST(TimerWheel, EntryCancellingAnotherDueEntry) {
  TimerWheel wheel(kStart);
  RecordingEntry first, second;
  first.then = [&](SteadyTime) { TimerWheel::cancel(second); };
  second.then = [&](SteadyTime) { TimerWheel::cancel(first); };
  wheel.schedule(first, kStart + milliseconds(100));
  wheel.schedule(second, kStart + milliseconds(100));
  run(wheel, milliseconds(0), milliseconds(500));
  EXPECT_EQ(first.fired.size() + second.fired.size(), 1u);
}

TEST(TimerWheel, EntryReschedulingAnotherDueEntry) {
  TimerWheel wheel(kStart);
  RecordingEntry first, second;
  first.then = [&](SteadyTime now) {
    if (second.fired.empty()) wheel.schedule(second, now + milliseconds(300));
  };
  second.then = [&](SteadyTime now) {
    if (first.fired.empty()) wheel.schedule(first, now + milliseconds(300));
  };
  wheel.schedule(first, kStart + milliseconds(100));
  wheel.schedule(second, kStart + milliseconds(100));
  run(wheel, milliseconds(0), milliseconds(1000));
  // Whichever ran first postponed the other by 300 ms.
  ASSERT_EQ(first.fired.size(), 1u);
  ASSERT_EQ(second.fired.size(), 1u);
  const milliseconds a = since_start(first.fired[0]);
  const milliseconds b = since_start(second.fired[0]);
  EXPECT_EQ(std::min(a, b), milliseconds(100));
  EXPECT_EQ(std::max(a, b), milliseconds(400));
}

}  // namespace
}  // namespace dispatch
