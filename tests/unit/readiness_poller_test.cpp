// Tests of the loop's own epoll set (src/transport/readiness_poller.h) with real socket pairs:
// a socket is reported once when it becomes readable (edge-triggered) and again only when new
// bytes arrive; writability after a full buffer is reported; more ready sockets than one wait
// takes are all delivered; a socket closed by another target is not reported after its batch.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <vector>

#include "transport/readiness_poller.h"

namespace dispatch {
namespace {

struct SocketPair {
  int ours = -1;
  int theirs = -1;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    ours = fds[0];
    theirs = fds[1];
  }
  ~SocketPair() {
    if (ours >= 0) ::close(ours);
    if (theirs >= 0) ::close(theirs);
  }
  void send_from_peer(const char* text) const {
    ASSERT_GT(::write(theirs, text, std::char_traits<char>::length(text)), 0);
  }
};

class CountingTarget : public ReadinessTarget {
 public:
  void on_ready(uint32_t events) override {
    if (events & EPOLLIN) ++readable;
    if (events & EPOLLOUT) ++writable;
    if (then) then(events);
  }
  int readable = 0;
  int writable = 0;
  std::function<void(uint32_t)> then;
};

// A poller on its own io_context, run for a moment at a time.
class ReadinessPollerTest : public ::testing::Test {
 protected:
  void run_briefly() {
    io.restart();
    io.run_for(std::chrono::milliseconds(30));
  }
  // Watches the pair's socket, starts the poller and lets the first (writable) event pass.
  void watch_started(const SocketPair& pair, CountingTarget& target) {
    ASSERT_TRUE(poller.add(pair.ours, target));
    poller.start();
    run_briefly();
  }

  boost::asio::io_context io;
  ReadinessPoller poller{io};
};

void drain(int fd) {
  char buffer[4096];
  while (::read(fd, buffer, sizeof buffer) > 0) {
  }
}

TEST_F(ReadinessPollerTest, ReportsANewlyReadableSocketOnceUntilMoreBytesArrive) {
  SocketPair pair;
  CountingTarget target;
  watch_started(pair, target);
  EXPECT_EQ(target.readable, 0);
  EXPECT_EQ(target.writable, 1);  // a fresh socket is writable once

  pair.send_from_peer("hello");
  run_briefly();
  EXPECT_EQ(target.readable, 1);

  run_briefly();  // not read, but no new bytes: edge-triggered, not reported again
  EXPECT_EQ(target.readable, 1);

  pair.send_from_peer("again");
  run_briefly();
  EXPECT_EQ(target.readable, 2);
}

TEST_F(ReadinessPollerTest, BytesWaitingBeforeTheSocketIsAddedAreReported) {
  SocketPair pair;
  pair.send_from_peer("early");
  CountingTarget target;
  poller.start();
  ASSERT_TRUE(poller.add(pair.ours, target));
  run_briefly();
  EXPECT_EQ(target.readable, 1);
}

TEST_F(ReadinessPollerTest, ReportsWritabilityAfterTheSendBufferDrains) {
  SocketPair pair;
  CountingTarget target;
  watch_started(pair, target);
  const int writable_before = target.writable;

  std::vector<char> block(64 * 1024, 'x');
  while (::write(pair.ours, block.data(), block.size()) > 0) {
  }
  ASSERT_EQ(errno, EAGAIN);
  run_briefly();
  EXPECT_EQ(target.writable, writable_before);  // still full

  drain(pair.theirs);
  run_briefly();
  EXPECT_GT(target.writable, writable_before);
}

TEST_F(ReadinessPollerTest, DeliversMoreReadySocketsThanOneWaitTakes) {
  constexpr int count = 600;  // more than two waits' worth
  std::vector<SocketPair> pairs(count);
  std::vector<CountingTarget> targets(count);
  for (int i = 0; i < count; ++i) ASSERT_TRUE(poller.add(pairs[i].ours, targets[i]));
  poller.start();
  run_briefly();
  for (auto& pair : pairs) pair.send_from_peer("x");
  run_briefly();
  for (int i = 0; i < count; ++i) EXPECT_EQ(targets[i].readable, 1) << "socket " << i;
}

TEST_F(ReadinessPollerTest, ASocketClosedByAnotherTargetIsNotReportedAfterItsBatch) {
  SocketPair first;
  SocketPair second;
  CountingTarget first_target;
  CountingTarget second_target;
  ASSERT_TRUE(poller.add(first.ours, first_target));
  ASSERT_TRUE(poller.add(second.ours, second_target));
  poller.start();
  run_briefly();

  // Both are ready in one batch and the first delivered closes the other. The batch was taken
  // before the close, so the other may still be told once (its object must outlive the batch,
  // which is why connections are freed in a later handler); after that, never again.
  bool closed_one = false;
  first_target.then = [&](uint32_t) {
    if (!std::exchange(closed_one, true)) ::close(std::exchange(second.ours, -1));
  };
  second_target.then = [&](uint32_t) {
    if (!std::exchange(closed_one, true)) ::close(std::exchange(first.ours, -1));
  };
  first.send_from_peer("a");
  second.send_from_peer("b");
  run_briefly();
  const int delivered = first_target.readable + second_target.readable;
  EXPECT_GE(delivered, 1);

  first_target.then = nullptr;
  second_target.then = nullptr;
  if (first.ours >= 0) first.send_from_peer("more");
  if (second.ours >= 0) second.send_from_peer("more");
  run_briefly();
  EXPECT_EQ(first_target.readable + second_target.readable, delivered + 1)
      << "only the socket still open is reported";
}

TEST_F(ReadinessPollerTest, RemovedSocketsAreNoLongerReported) {
  SocketPair pair;
  CountingTarget target;
  watch_started(pair, target);
  poller.remove(pair.ours);
  pair.send_from_peer("ignored");
  run_briefly();
  EXPECT_EQ(target.readable, 0);
}

TEST_F(ReadinessPollerTest, StopEndsDelivery) {
  SocketPair pair;
  CountingTarget target;
  watch_started(pair, target);
  poller.stop();
  pair.send_from_peer("late");
  run_briefly();
  EXPECT_EQ(target.readable, 0);
}

}  // namespace
}  // namespace dispatch
