// Fan-out (src/delivery/fanout.cpp): which loops a publish or a join reaches. Three loops that
// never start their threads; each loop's io_context is run by hand, so a batch handed to another
// loop shows as one handler there (one post per target loop per turn).
#include <gtest/gtest.h>

#include <optional>

#include "delivery/fanout.h"
#include "frames/out_frame.h"
#include "loop_test_support.h"

namespace dispatch {
namespace {

using test_support::minimal_compiled_config;
using test_support::run_ready;

class FanoutTest : public ::testing::Test {
 protected:
  FanoutTest() : engine_(3, minimal_compiled_config()) {}

  EventLoop& loop(unsigned index) { return engine_.loop(index); }
  FrameRef frame() { return FrameRef(OutFrame::create("frame")); }
  void add_user(std::string_view user, unsigned on_loop) {
    std::optional<UserConnection> replaced;
    engine_.directory().admit_connection(
        user, {engine_.next_connection_number(), static_cast<uint16_t>(on_loop)}, 0, false,
        replaced);
  }
  // Ends loop 0's turn, then returns how many handlers each other loop ran: {loop 1, loop 2}.
  std::pair<size_t, size_t> batches_from_loop0() {
    run_ready(loop(0));
    return {run_ready(loop(1)), run_ready(loop(2))};
  }

  Engine engine_;
  Directory& directory_ = engine_.directory();
};

TEST_F(FanoutTest, RoomPublishReachesOnlyTheLoopsWithMembers) {
  directory_.add_room_refs("room:r", 2, +1);
  publish_to_room(loop(0).delivery(), "room:r", frame());
  EXPECT_EQ(batches_from_loop0(), std::make_pair(size_t{0}, size_t{1}));
}

TEST_F(FanoutTest, RoomWithoutMembersCostsNoPost) {
  publish_to_room(loop(0).delivery(), "room:empty", frame());
  EXPECT_EQ(run_ready(loop(0)), 0u);  // not even a turn end was scheduled
  EXPECT_EQ(batches_from_loop0(), std::make_pair(size_t{0}, size_t{0}));
}

TEST_F(FanoutTest, MembersOnTheOriginLoopAreServedWithoutAPost) {
  directory_.add_room_refs("room:here", 0, +1);
  publish_to_room(loop(0).delivery(), "room:here", frame());
  EXPECT_EQ(run_ready(loop(0)), 0u);
  EXPECT_EQ(batches_from_loop0(), std::make_pair(size_t{0}, size_t{0}));
}

TEST_F(FanoutTest, OneBatchPerLoopPerTurn) {
  directory_.add_room_refs("room:a", 1, +1);
  directory_.add_room_refs("room:b", 1, +1);
  directory_.add_room_refs("room:b", 2, +1);
  for (int i = 0; i < 5; ++i) {
    publish_to_room(loop(0).delivery(), "room:a", frame());
    publish_to_room(loop(0).delivery(), "room:b", frame());
  }
  EXPECT_EQ(batches_from_loop0(), std::make_pair(size_t{1}, size_t{1}));
  // The next turn starts a new batch.
  publish_to_room(loop(0).delivery(), "room:a", frame());
  EXPECT_EQ(batches_from_loop0(), std::make_pair(size_t{1}, size_t{0}));
}

TEST_F(FanoutTest, UserPublishReachesTheLoopsOfThatUsersConnections) {
  add_user("alice", 1);
  add_user("bob", 2);
  publish_to_user(loop(0).delivery(), "alice", frame());
  EXPECT_EQ(batches_from_loop0(), std::make_pair(size_t{1}, size_t{0}));
  publish_to_user(loop(0).delivery(), "nobody", frame());
  EXPECT_EQ(batches_from_loop0(), std::make_pair(size_t{0}, size_t{0}));
}

TEST_F(FanoutTest, BroadcastReachesEveryOtherLoop) {
  publish_to_all(loop(0).delivery(), frame());
  EXPECT_EQ(batches_from_loop0(), std::make_pair(size_t{1}, size_t{1}));
}

TEST_F(FanoutTest, JoinOnAnotherLoopCountsAtOnceAndIsReleasedWhenItLands) {
  add_user("carol", 2);
  join_user_to_room(loop(0).delivery(), "carol", "room:j");
  // Before loop 2 has run anything, a publish already includes it.
  EXPECT_EQ(directory_.room_loops("room:j"), uint64_t{1} << 2);
  publish_to_room(loop(0).delivery(), "room:j", frame());
  EXPECT_EQ(batches_from_loop0(), std::make_pair(size_t{0}, size_t{1}));
  // The join landed on loop 2, which has no open connection of carol (the directory entry was
  // made by hand): nothing joined, and the in-flight count is gone.
  EXPECT_EQ(directory_.room_loops("room:j"), 0u);
  EXPECT_EQ(directory_.room_count(), 0u);
}

TEST_F(FanoutTest, LeaveGoesToTheUsersLoops) {
  add_user("dave", 1);
  leave_user_from_room(loop(0).delivery(), "dave", "room:l");
  EXPECT_EQ(batches_from_loop0(), std::make_pair(size_t{1}, size_t{0}));
}

}  // namespace
}  // namespace dispatch
