// The Directory (src/delivery/directory.h) used from several threads at once, as the event loops
// do. Run under TSan by scripts/test: their names contain "Concurrent", which
// tests/CMakeLists.txt registers again with the `threaded` label.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "delivery/directory.h"

namespace dispatch {
namespace {

constexpr unsigned kThreads = 4;

TEST(DirectoryConcurrent, EachLoopSeesItsOwnMembershipWhileOthersChurn) {
  Directory directory(kThreads);
  std::atomic<int> violations{0};
  std::vector<std::thread> threads;
  for (unsigned loop = 0; loop < kThreads; ++loop) {
    threads.emplace_back([&, loop] {
      const uint64_t bit = uint64_t{1} << loop;
      for (int i = 0; i < 3000; ++i) {
        const std::string room = "room:" + std::to_string(i % 7);
        directory.add_room_refs(room, loop, +1);
        // Only this thread changes this loop's count: its bit must be set now...
        if ((directory.room_loops(room) & bit) == 0) ++violations;
        directory.add_room_refs(room, loop, -1);
        // ...and clear now, whatever the other loops do to the same room.
        if ((directory.room_loops(room) & bit) != 0) ++violations;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(directory.room_count(), 0u);
}

TEST(DirectoryConcurrent, AdmitAndRemoveWithoutLimit) {
  Directory directory(kThreads);
  std::vector<std::thread> threads;
  for (unsigned loop = 0; loop < kThreads; ++loop) {
    threads.emplace_back([&, loop] {
      std::optional<UserConnection> replaced;
      for (uint64_t i = 0; i < 2000; ++i) {
        const uint64_t number = loop * 1'000'000 + i;
        const std::string user = "user" + std::to_string(i % 5);
        EXPECT_TRUE(directory.admit_connection(user, {number, static_cast<uint16_t>(loop)}, 0,
                                               false, replaced));
        EXPECT_FALSE(replaced);
        EXPECT_NE(directory.user_loops(user) & (uint64_t{1} << loop), 0u);
        directory.remove_connection(user, number);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int u = 0; u < 5; ++u) {
    EXPECT_EQ(directory.user_loops("user" + std::to_string(u)), 0u);
    EXPECT_TRUE(directory.user_connections("user" + std::to_string(u)).empty());
  }
}

TEST(DirectoryConcurrent, RejectAdmitsExactlyTheLimit) {
  constexpr uint32_t kLimit = 5;
  Directory directory(kThreads);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (unsigned loop = 0; loop < kThreads; ++loop) {
    threads.emplace_back([&, loop] {
      std::optional<UserConnection> replaced;
      for (uint64_t i = 0; i < 50; ++i) {
        if (directory.admit_connection("shared", {loop * 1000 + i, static_cast<uint16_t>(loop)},
                                       kLimit, false, replaced)) {
          ++admitted;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), static_cast<int>(kLimit));
  EXPECT_EQ(directory.user_connections("shared").size(), kLimit);
}

TEST(DirectoryConcurrent, CycleReplacesEachConnectionAtMostOnce) {
  constexpr uint32_t kLimit = 3;
  constexpr uint64_t kPerThread = 500;
  Directory directory(kThreads);
  std::vector<std::vector<uint64_t>> replaced_by(kThreads);
  std::vector<std::thread> threads;
  for (unsigned loop = 0; loop < kThreads; ++loop) {
    threads.emplace_back([&, loop] {
      std::optional<UserConnection> replaced;
      for (uint64_t i = 0; i < kPerThread; ++i) {
        EXPECT_TRUE(directory.admit_connection(
            "cycler", {loop * 1'000'000 + i, static_cast<uint16_t>(loop)}, kLimit, true, replaced));
        if (replaced) replaced_by[loop].push_back(replaced->number);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<uint64_t> replaced;
  size_t total = 0;
  for (const auto& numbers : replaced_by) {
    replaced.insert(numbers.begin(), numbers.end());
    total += numbers.size();
  }
  EXPECT_EQ(total, replaced.size()) << "a connection was replaced twice";
  EXPECT_EQ(total, kThreads * kPerThread - kLimit);
  const auto left = directory.user_connections("cycler");
  ASSERT_EQ(left.size(), kLimit);
  for (const UserConnection& connection : left) EXPECT_FALSE(replaced.count(connection.number));
}

}  // namespace
}  // namespace dispatch
