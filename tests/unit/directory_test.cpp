// Tests of the process-wide directory (src/delivery/directory.h): which loops have members of a
// room (counting joins in flight), and a user's connections under the per-user limit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "delivery/directory.h"

namespace dispatch {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<uint64_t> numbers(const std::vector<UserConnection>& connections) {
  std::vector<uint64_t> out;
  for (const UserConnection& connection : connections) out.push_back(connection.number);
  return out;
}

// ---- rooms ----

TEST(Directory, UnknownRoomHasNoLoops) {
  Directory directory(4);
  EXPECT_EQ(directory.room_loops("room:none"), 0u);
  EXPECT_EQ(directory.room_count(), 0u);
}

TEST(Directory, RoomLoopsMaskFollowsTheCounts) {
  Directory directory(4);
  directory.add_room_refs("room:a", 0, 1);
  EXPECT_EQ(directory.room_loops("room:a"), 0b0001u);
  directory.add_room_refs("room:a", 2, 1);
  directory.add_room_refs("room:a", 2, 1);
  EXPECT_EQ(directory.room_loops("room:a"), 0b0101u);
  directory.add_room_refs("room:a", 2, -1);  // one member left on loop 2
  EXPECT_EQ(directory.room_loops("room:a"), 0b0101u);
  directory.add_room_refs("room:a", 2, -1);
  EXPECT_EQ(directory.room_loops("room:a"), 0b0001u);
  EXPECT_EQ(directory.room_count(), 1u);
}

TEST(Directory, RoomIsErasedWhenEveryCountIsZero) {
  Directory directory(4);
  directory.add_room_refs("room:a", 1, 2);
  directory.add_room_refs("room:a", 3, 1);
  directory.add_room_refs("room:a", 1, -2);
  EXPECT_EQ(directory.room_count(), 1u);
  directory.add_room_refs("room:a", 3, -1);
  EXPECT_EQ(directory.room_loops("room:a"), 0u);
  EXPECT_EQ(directory.room_count(), 0u);
  // And comes back fresh.
  directory.add_room_refs("room:a", 0, 1);
  EXPECT_EQ(directory.room_loops("room:a"), 0b0001u);
}

TEST(Directory, JoinInFlightCountsUntilItLands) {
  // A `_join` posted to loop 1 adds a ref at once; when it lands the member adds its own and
  // the in-flight ref is removed: loop 1 stays in the mask throughout.
  Directory directory(2);
  directory.add_room_refs("room:a", 0, 1);  // the joining user's connection on loop 0
  directory.add_room_refs("room:a", 1, 1);  // join in flight to loop 1
  EXPECT_EQ(directory.room_loops("room:a"), 0b11u);
  directory.add_room_refs("room:a", 1, 1);   // landed: a local membership
  directory.add_room_refs("room:a", 1, -1);  // in-flight ref released
  EXPECT_EQ(directory.room_loops("room:a"), 0b11u);
  // A join that found no connection left on loop 1 releases its ref: loop 1 leaves the mask.
  directory.add_room_refs("room:b", 1, 1);
  directory.add_room_refs("room:b", 1, -1);
  EXPECT_EQ(directory.room_loops("room:b"), 0u);
  EXPECT_EQ(directory.room_count(), 1u);
}

TEST(Directory, AZeroDeltaCreatesNothing) {
  Directory directory(2);
  directory.add_room_refs("room:ghost", 1, 0);
  EXPECT_EQ(directory.room_count(), 0u);
  EXPECT_EQ(directory.room_loops("room:ghost"), 0u);
}

// A release before its add is a bug elsewhere: debug builds stop at it; release builds keep the
// count exact, so the add that follows leaves no phantom member (a clamp to 0 would).
TEST(DirectoryDeathTest, AReleaseWithoutItsAddAssertsAndIsCountedExactly) {
  Directory directory(2);
  directory.add_room_refs("room:a", 1, 1);
  EXPECT_DEBUG_DEATH(directory.add_room_refs("room:a", 0, -1), "never added");
#ifdef NDEBUG
  EXPECT_EQ(directory.room_loops("room:a"), 0b10u);
  directory.add_room_refs("room:a", 0, 1);
  EXPECT_EQ(directory.room_loops("room:a"), 0b10u);  // loop 0 is back at zero, not at one
  directory.add_room_refs("room:a", 1, -1);
  EXPECT_EQ(directory.room_count(), 0u);

  directory.add_room_refs("room:ghost", 0, -1);
  directory.add_room_refs("room:ghost", 0, 1);
  EXPECT_EQ(directory.room_loops("room:ghost"), 0u);
  EXPECT_EQ(directory.room_count(), 0u);
#endif
}

TEST(Directory, RoomsAreIndependentAndCaseSensitive) {
  Directory directory(3);
  directory.add_room_refs("Lobby", 0, 1);
  directory.add_room_refs("lobby", 2, 1);
  EXPECT_EQ(directory.room_loops("Lobby"), 0b001u);
  EXPECT_EQ(directory.room_loops("lobby"), 0b100u);
  EXPECT_EQ(directory.room_count(), 2u);
}

TEST(Directory, SixtyFourLoops) {
  Directory directory(64);
  directory.add_room_refs("room:wide", 63, 1);
  directory.add_room_refs("room:wide", 0, 1);
  EXPECT_EQ(directory.room_loops("room:wide"), (uint64_t{1} << 63) | 1u);
  directory.add_room_refs("room:wide", 63, -1);
  EXPECT_EQ(directory.room_loops("room:wide"), 1u);
}

TEST(Directory, ManyRoomsAcrossShards) {
  Directory directory(2);
  for (int i = 0; i < 1000; ++i) directory.add_room_refs("room:" + std::to_string(i), i % 2, 1);
  EXPECT_EQ(directory.room_count(), 1000u);
  EXPECT_EQ(directory.room_loops("room:7"), 0b10u);
  for (int i = 0; i < 1000; ++i) directory.add_room_refs("room:" + std::to_string(i), i % 2, -1);
  EXPECT_EQ(directory.room_count(), 0u);
}

// ---- users ----

TEST(Directory, AdmitWithoutLimit) {
  Directory directory(4);
  std::optional<UserConnection> replaced;
  for (uint64_t n = 1; n <= 5; ++n) {
    EXPECT_TRUE(
        directory.admit_connection("alice", {n, static_cast<uint16_t>(n % 4)}, 0, false, replaced));
    EXPECT_FALSE(replaced.has_value());
  }
  EXPECT_THAT(numbers(directory.user_connections("alice")), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_EQ(directory.user_loops("alice"), 0b1111u);
}

TEST(Directory, AdmitWithRejectRefusesBeyondTheLimit) {
  Directory directory(2);
  std::optional<UserConnection> replaced;
  EXPECT_TRUE(directory.admit_connection("alice", {1, 0}, 2, false, replaced));
  EXPECT_TRUE(directory.admit_connection("alice", {2, 1}, 2, false, replaced));
  EXPECT_FALSE(directory.admit_connection("alice", {3, 0}, 2, false, replaced));
  EXPECT_FALSE(replaced.has_value());
  EXPECT_THAT(numbers(directory.user_connections("alice")), ElementsAre(1, 2));
  // Another user is not affected; a freed place can be taken again.
  EXPECT_TRUE(directory.admit_connection("bob", {4, 0}, 2, false, replaced));
  directory.remove_connection("alice", 1);
  EXPECT_TRUE(directory.admit_connection("alice", {5, 0}, 2, false, replaced));
  EXPECT_THAT(numbers(directory.user_connections("alice")), ElementsAre(2, 5));
}

TEST(Directory, AdmitWithCycleReplacesTheOldest) {
  Directory directory(2);
  std::optional<UserConnection> replaced;
  EXPECT_TRUE(directory.admit_connection("alice", {1, 0}, 2, true, replaced));
  EXPECT_TRUE(directory.admit_connection("alice", {2, 1}, 2, true, replaced));
  EXPECT_FALSE(replaced.has_value());
  EXPECT_TRUE(directory.admit_connection("alice", {3, 1}, 2, true, replaced));
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(replaced->number, 1u);
  EXPECT_EQ(replaced->loop, 0u);
  EXPECT_THAT(numbers(directory.user_connections("alice")), ElementsAre(2, 3));
  EXPECT_EQ(directory.user_loops("alice"), 0b10u);
  EXPECT_TRUE(directory.admit_connection("alice", {4, 0}, 2, true, replaced));
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(replaced->number, 2u);
  EXPECT_THAT(numbers(directory.user_connections("alice")), ElementsAre(3, 4));
}

TEST(Directory, CycleWithALimitOfOne) {
  Directory directory(1);
  std::optional<UserConnection> replaced;
  EXPECT_TRUE(directory.admit_connection("alice", {1, 0}, 1, true, replaced));
  EXPECT_FALSE(replaced.has_value());
  EXPECT_TRUE(directory.admit_connection("alice", {2, 0}, 1, true, replaced));
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(replaced->number, 1u);
  EXPECT_THAT(numbers(directory.user_connections("alice")), ElementsAre(2));
  // The replaced connection's later removal by number does not touch the new one.
  directory.remove_connection("alice", 1);
  EXPECT_THAT(numbers(directory.user_connections("alice")), ElementsAre(2));
}

TEST(Directory, ReplacedIsClearedOnTheNextCall) {
  Directory directory(1);
  std::optional<UserConnection> replaced = UserConnection{99, 0};
  EXPECT_TRUE(directory.admit_connection("alice", {1, 0}, 1, true, replaced));
  EXPECT_FALSE(replaced.has_value());
  replaced = UserConnection{99, 0};
  EXPECT_TRUE(directory.admit_connection("bob", {2, 0}, 0, false, replaced));
  EXPECT_FALSE(replaced.has_value());
}

TEST(Directory, RemoveConnection) {
  Directory directory(3);
  std::optional<UserConnection> replaced;
  directory.admit_connection("alice", {1, 0}, 0, false, replaced);
  directory.admit_connection("alice", {2, 2}, 0, false, replaced);
  directory.admit_connection("alice", {3, 2}, 0, false, replaced);
  directory.remove_connection("alice", 2);
  EXPECT_THAT(numbers(directory.user_connections("alice")), ElementsAre(1, 3));
  EXPECT_EQ(directory.user_loops("alice"), 0b101u);
  directory.remove_connection("alice", 42);  // unknown number: nothing happens
  directory.remove_connection("nobody", 1);
  EXPECT_THAT(numbers(directory.user_connections("alice")), ElementsAre(1, 3));
  directory.remove_connection("alice", 3);
  EXPECT_EQ(directory.user_loops("alice"), 0b001u);
  directory.remove_connection("alice", 1);
  EXPECT_THAT(directory.user_connections("alice"), IsEmpty());
  EXPECT_EQ(directory.user_loops("alice"), 0u);
}

TEST(Directory, UnknownUser) {
  Directory directory(2);
  EXPECT_EQ(directory.user_loops("ghost"), 0u);
  EXPECT_THAT(directory.user_connections("ghost"), IsEmpty());
}

TEST(Directory, UsersAndRoomsWithTheSameNameAreSeparate) {
  Directory directory(2);
  std::optional<UserConnection> replaced;
  directory.admit_connection("same", {1, 1}, 0, false, replaced);
  EXPECT_EQ(directory.room_loops("same"), 0u);
  directory.add_room_refs("same", 0, 1);
  EXPECT_EQ(directory.user_loops("same"), 0b10u);
  EXPECT_EQ(directory.room_loops("same"), 0b01u);
}

}  // namespace
}  // namespace dispatch
