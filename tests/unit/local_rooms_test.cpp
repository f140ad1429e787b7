// One loop's rooms (src/delivery/local_rooms.h): membership per session, the Directory's count
// for this loop kept in step, empty rooms erased, and a visit that may make members leave.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "delivery/directory.h"
#include "delivery/local_rooms.h"
#include "loop_test_support.h"

namespace dispatch {
namespace {

using test_support::DetachedSession;
using test_support::minimal_compiled_config;

class LocalRoomsTest : public ::testing::Test {
 protected:
  LocalRoomsTest() : engine_(2, minimal_compiled_config()) {}

  Session& add_connection() {
    connections_.push_back(std::make_unique<DetachedSession>(engine_.loop(1)));
    return *connections_.back();
  }
  std::vector<Session*> members(std::string_view room) {
    std::vector<Session*> visited;
    rooms_.for_each_member(room, [&](Session& member) { visited.push_back(&member); });
    std::sort(visited.begin(), visited.end());
    return visited;
  }

  Engine engine_;
  Directory& directory_ = engine_.directory();
  LocalRooms rooms_{directory_, 1};  // loop 1's rooms
  std::vector<std::unique_ptr<DetachedSession>> connections_;
};

TEST_F(LocalRoomsTest, JoinMakesAMemberAndTellsTheDirectory) {
  Session& a = add_connection();
  EXPECT_TRUE(rooms_.join(a, "room:a", 0));
  EXPECT_THAT(members("room:a"), ::testing::ElementsAre(&a));
  EXPECT_EQ(directory_.room_loops("room:a"), uint64_t{1} << 1);
  EXPECT_TRUE(a.is_member("room:a"));
  EXPECT_EQ(rooms_.size(), 1u);
}

TEST_F(LocalRoomsTest, JoiningTwiceIsOneMembership) {
  Session& a = add_connection();
  EXPECT_TRUE(rooms_.join(a, "room:a", 0));
  EXPECT_FALSE(rooms_.join(a, "room:a", 0));
  EXPECT_EQ(members("room:a").size(), 1u);
  // One leave ends it: the directory count was not raised twice.
  EXPECT_TRUE(rooms_.leave(a, "room:a"));
  EXPECT_EQ(directory_.room_loops("room:a"), 0u);
  EXPECT_EQ(directory_.room_count(), 0u);
}

TEST_F(LocalRoomsTest, LastLeaveErasesTheRoomHereAndInTheDirectory) {
  Session& a = add_connection();
  Session& b = add_connection();
  rooms_.join(a, "room:a", 0);
  rooms_.join(b, "room:a", 0);
  EXPECT_TRUE(rooms_.leave(a, "room:a"));
  EXPECT_THAT(members("room:a"), ::testing::ElementsAre(&b));
  EXPECT_EQ(directory_.room_loops("room:a"), uint64_t{1} << 1);
  EXPECT_TRUE(rooms_.leave(b, "room:a"));
  EXPECT_EQ(rooms_.find("room:a"), nullptr);
  EXPECT_EQ(rooms_.size(), 0u);
  EXPECT_EQ(directory_.room_count(), 0u);
  EXPECT_FALSE(b.is_member("room:a"));
}

TEST_F(LocalRoomsTest, LeavingARoomOneIsNotInChangesNothing) {
  Session& a = add_connection();
  Session& b = add_connection();
  rooms_.join(a, "room:a", 0);
  EXPECT_FALSE(rooms_.leave(b, "room:a"));
  EXPECT_FALSE(rooms_.leave(a, "room:none"));
  EXPECT_THAT(members("room:a"), ::testing::ElementsAre(&a));
  EXPECT_EQ(directory_.room_loops("room:a"), uint64_t{1} << 1);
}

TEST_F(LocalRoomsTest, LeaveAllEndsEveryMembershipOfThatConnectionOnly) {
  Session& a = add_connection();
  Session& b = add_connection();
  for (const char* room : {"room:1", "room:2", "room:3"}) rooms_.join(a, room, 0);
  rooms_.join(b, "room:2", 0);
  rooms_.leave_all(a);
  EXPECT_TRUE(a.rooms().empty());
  EXPECT_EQ(rooms_.find("room:1"), nullptr);
  EXPECT_EQ(rooms_.find("room:3"), nullptr);
  EXPECT_THAT(members("room:2"), ::testing::ElementsAre(&b));
  EXPECT_EQ(directory_.room_count(), 1u);
}

TEST_F(LocalRoomsTest, RoomLimitPerConnection) {
  Session& a = add_connection();
  EXPECT_TRUE(rooms_.join(a, "room:1", 2));
  EXPECT_TRUE(rooms_.join(a, "room:2", 2));
  EXPECT_FALSE(rooms_.join(a, "room:3", 2));
  EXPECT_EQ(rooms_.find("room:3"), nullptr);
  EXPECT_EQ(directory_.room_loops("room:3"), 0u);
  rooms_.leave(a, "room:1");
  EXPECT_TRUE(rooms_.join(a, "room:3", 2));
}

TEST_F(LocalRoomsTest, VisitThatRemovesMembersStillVisitsEveryOther) {
  std::vector<Session*> all;
  for (int i = 0; i < 6; ++i) {
    Session& c = add_connection();
    rooms_.join(c, "room:v", 0);
    all.push_back(&c);
  }
  std::sort(all.begin(), all.end());
  // Every second member visited leaves during the visit (as a slow consumer closed mid-fanout).
  std::vector<Session*> visited;
  int n = 0;
  rooms_.for_each_member("room:v", [&](Session& member) {
    visited.push_back(&member);
    if (n++ % 2 == 0) rooms_.leave(member, "room:v");
  });
  std::sort(visited.begin(), visited.end());
  EXPECT_EQ(visited, all);
  EXPECT_EQ(members("room:v").size(), 3u);
}

TEST_F(LocalRoomsTest, RoomEmptiedDuringAVisitIsErasedAfterIt) {
  Session& a = add_connection();
  Session& b = add_connection();
  rooms_.join(a, "room:v", 0);
  rooms_.join(b, "room:v", 0);
  int visits = 0;
  rooms_.for_each_member("room:v", [&](Session& member) {
    ++visits;
    rooms_.leave(member, "room:v");
    EXPECT_NE(rooms_.find("room:v"), nullptr);  // still allocated while visited
  });
  EXPECT_EQ(visits, 2);
  EXPECT_EQ(rooms_.find("room:v"), nullptr);
  EXPECT_EQ(directory_.room_count(), 0u);
}

TEST_F(LocalRoomsTest, RoomsAreCaseSensitiveAndIndependent) {
  Session& a = add_connection();
  rooms_.join(a, "room:A", 0);
  rooms_.join(a, "room:a", 0);
  EXPECT_EQ(rooms_.size(), 2u);
  rooms_.leave(a, "room:A");
  EXPECT_TRUE(a.is_member("room:a"));
  EXPECT_FALSE(a.is_member("room:A"));
}

}  // namespace
}  // namespace dispatch
