// Tests of a connection's send queue (src/session/send_queue.h): byte accounting, gathering,
// partial writes, the slow-consumer drops that never cut a half-written frame, memory release.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "session/send_queue.h"

namespace dispatch {
namespace {

FrameRef frame_of(std::string_view bytes) {
  return FrameRef(OutFrame::create(bytes));
}

// What a writev of the gathered vectors would send.
std::string gathered(const SendQueue& queue, int max = 64) {
  std::vector<iovec> vectors(static_cast<size_t>(max));
  const int count = queue.gather(vectors.data(), max);
  std::string out;
  for (int i = 0; i < count; ++i) {
    out.append(static_cast<const char*>(vectors[i].iov_base), vectors[i].iov_len);
  }
  return out;
}

// Simulates one writev that accepts at most `budget` bytes; returns the bytes "sent".
std::string write_some(SendQueue& queue, size_t budget, int max_vectors = 64) {
  std::string all = gathered(queue, max_vectors);
  std::string sent = all.substr(0, std::min(budget, all.size()));
  queue.consume(sent.size());
  return sent;
}

TEST(SendQueue, EmptyQueue) {
  SendQueue queue;
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.frame_count(), 0u);
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_FALSE(queue.head_partially_written());
  iovec vectors[4];
  EXPECT_EQ(queue.gather(vectors, 4), 0);
}

TEST(SendQueue, PushCountsFramesAndBytes) {
  SendQueue queue;
  queue.push(frame_of("0123456789"));
  queue.push(frame_of("abcdefghijklmnopqrst"));
  queue.push(frame_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"));
  EXPECT_FALSE(queue.empty());
  EXPECT_EQ(queue.frame_count(), 3u);
  EXPECT_EQ(queue.bytes(), 60u);
}

TEST(SendQueue, GatherPointsAtTheFramesInOrder) {
  SendQueue queue;
  FrameRef first = frame_of("first");
  queue.push(first);
  queue.push(frame_of("second"));
  iovec vectors[8];
  ASSERT_EQ(queue.gather(vectors, 8), 2);
  EXPECT_EQ(vectors[0].iov_base, first->data());  // no copy
  EXPECT_EQ(vectors[0].iov_len, 5u);
  EXPECT_EQ(std::string(static_cast<const char*>(vectors[1].iov_base), vectors[1].iov_len),
            "second");
  ASSERT_EQ(queue.gather(vectors, 1), 1);
  EXPECT_EQ(vectors[0].iov_len, 5u);
}

TEST(SendQueue, PartialWritesAcrossFrames) {
  SendQueue queue;
  queue.push(frame_of("0123456789"));
  queue.push(frame_of("abcdefghijklmnopqrst"));
  queue.push(frame_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"));

  queue.consume(15);  // the first frame and 5 bytes of the second
  EXPECT_EQ(queue.frame_count(), 2u);
  EXPECT_EQ(queue.bytes(), 45u);
  EXPECT_TRUE(queue.head_partially_written());
  EXPECT_EQ(gathered(queue), "fghijklmnopqrstABCDEFGHIJKLMNOPQRSTUVWXYZ0123");

  queue.consume(3);
  EXPECT_EQ(queue.bytes(), 42u);
  EXPECT_EQ(gathered(queue), "ijklmnopqrstABCDEFGHIJKLMNOPQRSTUVWXYZ0123");

  queue.consume(12);  // exactly the rest of the head
  EXPECT_EQ(queue.frame_count(), 1u);
  EXPECT_EQ(queue.bytes(), 30u);
  EXPECT_FALSE(queue.head_partially_written());
  EXPECT_EQ(gathered(queue), "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123");

  queue.consume(30);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_FALSE(queue.head_partially_written());
  EXPECT_EQ(gathered(queue), "");
}

TEST(SendQueue, RandomPartialWritesSendEveryByteOnceInOrder) {
  std::mt19937 random(7);
  SendQueue queue;
  std::string expected;
  std::string sent;
  for (int round = 0; round < 500; ++round) {
    const int pushes = std::uniform_int_distribution<int>(0, 4)(random);
    for (int i = 0; i < pushes; ++i) {
      const size_t size = std::uniform_int_distribution<size_t>(1, 300)(random);
      std::string bytes;
      for (size_t b = 0; b < size; ++b) bytes.push_back(static_cast<char>('a' + (round + b) % 26));
      bytes[0] = static_cast<char>('A' + round % 26);
      expected += bytes;
      queue.push(frame_of(bytes));
    }
    const size_t budget = std::uniform_int_distribution<size_t>(0, 700)(random);
    sent += write_some(queue, budget, std::uniform_int_distribution<int>(1, 8)(random));
    ASSERT_EQ(queue.bytes(), expected.size() - sent.size());
  }
  while (!queue.empty()) sent += write_some(queue, 1000);
  EXPECT_EQ(sent, expected);
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(SendQueue, MoreThan64FramesAreGatheredInChunks) {
  SendQueue queue;
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    std::string bytes = "[";  // appended: see RingWrapsAroundAndGrowsWithoutReordering
    bytes += std::to_string(i);
    bytes += ']';
    expected += bytes;
    queue.push(frame_of(bytes));
  }
  EXPECT_EQ(queue.frame_count(), 100u);
  iovec vectors[64];
  ASSERT_EQ(queue.gather(vectors, 64), 64);
  std::string sent = write_some(queue, SIZE_MAX, 64);
  EXPECT_EQ(queue.frame_count(), 36u);
  ASSERT_EQ(queue.gather(vectors, 64), 36);
  sent += write_some(queue, SIZE_MAX, 64);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(sent, expected);
}

TEST(SendQueue, RingWrapsAroundAndGrowsWithoutReordering) {
  SendQueue queue;
  std::string expected;
  std::string sent;
  int next = 0;
  auto push = [&](int count) {
    for (int i = 0; i < count; ++i) {
      // Appended, not "<" + std::to_string(...): GCC 12 at -O3 warns (-Wrestrict) on that form.
      std::string bytes = "<";
      bytes += std::to_string(next++);
      bytes += '>';
      expected += bytes;
      queue.push(frame_of(bytes));
    }
  };
  push(3);
  sent += write_some(queue, 6);  // "<0><1>": the head index moves
  push(3);                       // wraps around a ring of 4
  push(4);                       // grows while wrapped
  sent += write_some(queue, 7);
  push(20);
  while (!queue.empty()) sent += write_some(queue, 5, 3);
  EXPECT_EQ(sent, expected);
}

TEST(SendQueue, DropAllWithoutPartialHeadDropsEverything) {
  SendQueue queue;
  queue.push(frame_of("0123456789"));
  queue.push(frame_of("abcde"));
  EXPECT_EQ(queue.drop_all_but_partial_head(), 15u);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(SendQueue, DropAllKeepsAPartiallyWrittenHead) {
  SendQueue queue;
  queue.push(frame_of("0123456789"));
  queue.push(frame_of("abcde"));
  queue.push(frame_of("ABCDEFG"));
  queue.consume(4);
  EXPECT_EQ(queue.drop_all_but_partial_head(), 12u);
  EXPECT_EQ(queue.frame_count(), 1u);
  EXPECT_EQ(queue.bytes(), 6u);
  EXPECT_TRUE(queue.head_partially_written());
  EXPECT_EQ(gathered(queue), "456789");
  // A close frame queued afterwards follows the finished head.
  queue.push(frame_of("CLOSE"));
  EXPECT_EQ(write_some(queue, 100), "456789CLOSE");
}

TEST(SendQueue, DropOldestUntilDropsWholeOldFrames) {
  SendQueue queue;
  queue.push(frame_of(std::string(10, 'a')));
  queue.push(frame_of(std::string(20, 'b')));
  queue.push(frame_of(std::string(30, 'c')));
  queue.push(frame_of(std::string(40, 'd')));
  EXPECT_EQ(queue.drop_oldest_until(100), 0u);
  EXPECT_EQ(queue.drop_oldest_until(50), 60u);
  EXPECT_EQ(queue.frame_count(), 1u);
  EXPECT_EQ(queue.bytes(), 40u);
  EXPECT_EQ(gathered(queue), std::string(40, 'd'));
}

TEST(SendQueue, DropOldestUntilNeverDropsAPartialHead) {
  SendQueue queue;
  queue.push(frame_of("0123456789"));
  queue.push(frame_of(std::string(20, 'b')));
  queue.push(frame_of(std::string(30, 'c')));
  queue.push(frame_of(std::string(40, 'd')));
  queue.consume(5);
  ASSERT_EQ(queue.bytes(), 95u);
  EXPECT_EQ(queue.drop_oldest_until(50), 50u);  // b and c, not the half-sent head
  EXPECT_EQ(queue.bytes(), 45u);
  EXPECT_EQ(gathered(queue), "56789" + std::string(40, 'd'));
  EXPECT_EQ(queue.drop_oldest_until(0), 40u);
  EXPECT_EQ(queue.frame_count(), 1u);
  EXPECT_EQ(queue.bytes(), 5u);
  EXPECT_EQ(gathered(queue), "56789");
}

TEST(SendQueue, DropOldestUntilKeepsOrderInAWrappedRing) {
  SendQueue queue;
  for (const char* bytes : {"x1", "x2", "x3"}) queue.push(frame_of(bytes));
  queue.consume(4);  // the head moves to slot 2 of a ring of 4
  for (const char* bytes : {"a1", "a2", "a3"}) queue.push(frame_of(bytes));  // a2, a3 wrap
  ASSERT_EQ(queue.bytes(), 8u);
  EXPECT_EQ(queue.drop_oldest_until(4), 4u);  // x3 and a1
  EXPECT_EQ(gathered(queue), "a2a3");
  EXPECT_EQ(queue.frame_count(), 2u);
  queue.push(frame_of("a4"));
  EXPECT_EQ(gathered(queue), "a2a3a4");
}

TEST(SendQueue, DropOldestUntilNeverDropsAControlFrame) {
  SendQueue queue;
  queue.push(frame_of("d1"));
  queue.push_control(frame_of("PING"));
  queue.push(frame_of("d2"));
  queue.push_control(frame_of("PONG"));
  queue.push(frame_of("d3"));
  queue.push(frame_of("d4"));
  queue.push_control(frame_of("CLOSE"));
  ASSERT_EQ(queue.bytes(), 21u);
  EXPECT_EQ(queue.drop_oldest_until(16), 6u);  // d1, d2 and d3: the controls stay in order
  EXPECT_EQ(gathered(queue), "PINGPONGd4CLOSE");
  EXPECT_EQ(queue.drop_oldest_until(0), 2u);  // only controls are left, over the limit
  EXPECT_EQ(gathered(queue), "PINGPONGCLOSE");
  EXPECT_EQ(queue.frame_count(), 3u);
  EXPECT_EQ(queue.bytes(), 13u);
  queue.push(frame_of("d5"));
  EXPECT_EQ(write_some(queue, 100), "PINGPONGCLOSEd5");
  EXPECT_TRUE(queue.empty());
}

TEST(SendQueue, DropOldestUntilKeepsAPartialHeadAndControlsInAWrappedRing) {
  SendQueue queue;
  for (const char* bytes : {"x1", "x2", "x3", "x4", "x5", "x6"}) queue.push(frame_of(bytes));
  queue.consume(9);  // x1..x4 written, x5 half: the head sits in the middle of a ring of 8
  queue.push_control(frame_of("P1"));
  for (const char* bytes : {"a1", "a2"}) queue.push(frame_of(bytes));  // wraps
  queue.push_control(frame_of("P2"));
  queue.push(frame_of("a3"));
  ASSERT_EQ(gathered(queue), "5x6P1a1a2P2a3");
  EXPECT_EQ(queue.drop_oldest_until(7), 6u);  // x6, a1, a2
  EXPECT_EQ(gathered(queue), "5P1P2a3");
  EXPECT_EQ(queue.frame_count(), 4u);
  EXPECT_EQ(write_some(queue, 100), "5P1P2a3");
}

// A slow consumer under drop_oldest drops one old frame per new one: each drop must not walk
// (or shift) the whole queue. 100,000 rounds over a queue of 100,000 frames: instant when each
// drop costs O(1), minutes when it costs O(queue).
TEST(SendQueue, DropOldestOneAtATimeOverALongQueueKeepsTheNewest) {
  SendQueue queue;
  constexpr int frames = 100000;
  const FrameRef shared = frame_of("x");
  for (int i = 0; i < frames; ++i) queue.push(shared);
  queue.push_control(frame_of("P"));
  for (int i = 0; i < frames; ++i) {
    queue.push(frame_of("y"));
    ASSERT_EQ(queue.drop_oldest_until(frames + 1), 1u);
  }
  EXPECT_EQ(queue.frame_count(), static_cast<size_t>(frames) + 1);
  std::string rest;
  while (!queue.empty()) rest += write_some(queue, 4096);
  EXPECT_EQ(rest, "P" + std::string(frames, 'y'));
}

TEST(SendQueue, ReleaseMemoryOnlyWhenEmptyAndTheQueueStillWorks) {
  SendQueue queue;
  queue.push(frame_of("abc"));
  queue.release_memory();  // not empty: nothing changes
  EXPECT_EQ(queue.frame_count(), 1u);
  EXPECT_EQ(gathered(queue), "abc");
  queue.consume(3);
  queue.release_memory();
  EXPECT_TRUE(queue.empty());
  queue.push(frame_of("def"));
  queue.push(frame_of("ghi"));
  EXPECT_EQ(queue.bytes(), 6u);
  EXPECT_EQ(write_some(queue, 100), "defghi");
}

TEST(SendQueue, SharedFrameOutlivesTheQueueEntry) {
  FrameRef shared = frame_of("shared bytes");
  {
    SendQueue first;
    SendQueue second;
    first.push(shared);
    second.push(shared);
    first.consume(12);
    EXPECT_EQ(gathered(second), "shared bytes");
    second.drop_all_but_partial_head();
  }
  EXPECT_EQ(shared->bytes(), "shared bytes");
}

}  // namespace
}  // namespace dispatch
