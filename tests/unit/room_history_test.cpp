// RoomLog and RoomHistory (delivery/room_history.h): offsets, the size and ttl limits, and which
// gaps a returning client can still recover.
#include "delivery/room_history.h"

#include <gtest/gtest.h>

#include "frames/server_frames.h"

namespace dispatch {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

FrameRef frame(int n) {
  return build_event_frame("said", "{\"n\":" + std::to_string(n) + "}");
}

TEST(RoomLog, KeepsTheLastSizeMessagesWithConsecutiveOffsets) {
  const SteadyTime t0{};
  RoomLog log("epoch1", 2, t0);
  const HistoryLimits limits{3, seconds(60)};
  for (int n = 1; n <= 5; ++n) {
    EXPECT_EQ(log.next_offset(), static_cast<uint64_t>(n));
    log.append(frame(n), t0, limits);
  }
  EXPECT_EQ(log.last_offset(), 5u);
  ASSERT_EQ(log.entries().size(), 3u);
  EXPECT_EQ(log.entries().front().offset, 3u);

  std::vector<FrameRef> replay;
  EXPECT_TRUE(log.frames_after(2, replay));  // 3, 4, 5: all kept
  EXPECT_EQ(replay.size(), 3u);
  replay.clear();
  EXPECT_TRUE(log.frames_after(5, replay));  // nothing missed
  EXPECT_TRUE(replay.empty());
  EXPECT_FALSE(log.frames_after(1, replay));  // 2 is gone
  EXPECT_FALSE(log.frames_after(6, replay));  // never had it
  EXPECT_TRUE(replay.empty());
}

TEST(RoomLog, ExpiredMessagesAreNotReplayedButAnUpToDateClientIsFine) {
  const SteadyTime t0{};
  RoomLog log("e", 1, t0);
  const HistoryLimits limits{100, seconds(10)};
  log.append(frame(1), t0, limits);
  log.append(frame(2), t0 + seconds(5), limits);
  log.expire(t0 + seconds(12));
  ASSERT_EQ(log.entries().size(), 1u);
  std::vector<FrameRef> replay;
  EXPECT_FALSE(log.frames_after(0, replay));
  EXPECT_TRUE(log.frames_after(1, replay));
  EXPECT_EQ(replay.size(), 1u);
  log.expire(t0 + seconds(20));
  replay.clear();
  EXPECT_TRUE(log.frames_after(2, replay));
  EXPECT_FALSE(log.frames_after(1, replay));
}

// `since: {"room": {"last": N}}`: the last N kept messages, fewer when fewer are kept.
TEST(RoomLog, TheLastMessagesAreTheNewestKeptOnes) {
  const SteadyTime t0{};
  RoomLog log("e", 1, t0);
  EXPECT_EQ(log.offset_before_last(10), 0u);  // nothing published yet
  const HistoryLimits limits{3, seconds(10)};
  for (int n = 1; n <= 5; ++n) log.append(frame(n), t0 + seconds(n), limits);
  EXPECT_EQ(log.offset_before_last(1), 4u);
  EXPECT_EQ(log.offset_before_last(2), 3u);
  EXPECT_EQ(log.offset_before_last(3), 2u);
  EXPECT_EQ(log.offset_before_last(50), 2u);  // 3, 4, 5 are all it keeps
  std::vector<FrameRef> replay;
  EXPECT_TRUE(log.frames_after(log.offset_before_last(50), replay));
  EXPECT_EQ(replay.size(), 3u);
  log.expire(t0 + seconds(14));  // 3 and 4 expire
  EXPECT_EQ(log.offset_before_last(50), 4u);
  log.expire(t0 + seconds(20));
  EXPECT_EQ(log.offset_before_last(50), 5u);  // none kept: nothing to replay
}

TEST(RoomHistory, EachRoomHasItsOwnEpochAndQuietEmptyRoomsAreForgotten) {
  RoomHistory history(2);
  const SteadyTime t0{};
  auto epoch_of = [&](std::string_view room, SteadyTime now) {
    return *history.with_room(room, now, true, [](RoomLog& log) { return log.epoch(); });
  };
  const std::string a = epoch_of("a", t0);
  EXPECT_EQ(a.size(), 12u);
  EXPECT_NE(a, epoch_of("b", t0));
  EXPECT_EQ(a, epoch_of("a", t0 + seconds(1)));
  EXPECT_FALSE(history.with_room("c", t0, false, [](RoomLog&) { return 0; }));

  history.with_room("a", t0, true, [&](RoomLog& log) {
    log.append(frame(1), t0, HistoryLimits{10, milliseconds(500)});
    return 0;
  });
  const SteadyTime later = t0 + RoomHistory::position_memory + seconds(1);
  for (int i = 0; i < 64; ++i) history.sweep_one_shard(t0 + seconds(1));
  EXPECT_EQ(history.room_count(), 2u);  // expired messages, but the position is remembered
  for (int i = 0; i < 64; ++i) history.sweep_one_shard(later);
  EXPECT_EQ(history.room_count(), 0u);
  EXPECT_NE(a, epoch_of("a", later));  // a new epoch: what a client held is gone
}

}  // namespace
}  // namespace dispatch
