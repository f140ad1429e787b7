// A loop's own epoll set for the sockets it owns (client connections and the listener).
//
// Asio 1.81's reactor re-registers a descriptor (one epoll_ctl) for every async_wait, so waiting
// for readability before each read costs a system call per message. Here every socket is added
// once, edge-triggered for reading and writing, and never modified again; the poller's own epoll
// descriptor is a single descriptor in the loop's io_context, so one wake-up hands the loop every
// socket that became ready. Nothing is allocated per socket in user space.
//
// Edge-triggered rules the targets follow: a readable target reads until a read comes back
// short (or would block) or it chooses to stop, and then must come back on its own (it will not
// be told again); a target that hit EAGAIN writing is told when the socket drains.
#pragma once

#include <sys/epoll.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <cstdint>

namespace dispatch {

class ReadinessTarget {
 public:
  // Readiness bits from epoll (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLERR, EPOLLHUP).
  virtual void on_ready(uint32_t events) = 0;

 protected:
  ~ReadinessTarget() = default;
};

class ReadinessPoller {
 public:
  explicit ReadinessPoller(boost::asio::io_context& io);
  ReadinessPoller(const ReadinessPoller&) = delete;
  ReadinessPoller& operator=(const ReadinessPoller&) = delete;
  ~ReadinessPoller();

  // Watches fd until it is closed (closing a descriptor removes it from the set). Returns false
  // with errno set when the kernel refuses (e.g. out of memory).
  bool add(int fd, ReadinessTarget& target);
  // Stops watching fd while it stays open.
  void remove(int fd);

  // Begins waiting; call once on the loop's thread (or before it runs).
  void start();
  // Stops waiting (the loop is shutting down).
  void stop();

 private:
  static constexpr int max_events_per_wait = 256;

  void arm();
  void deliver_ready();

  boost::asio::io_context& io_;
  int epoll_fd_ = -1;
  boost::asio::posix::stream_descriptor watch_;
  std::array<epoll_event, max_events_per_wait> events_{};
  bool stopped_ = false;
};

}  // namespace dispatch
