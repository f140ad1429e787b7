#include "transport/readiness_poller.h"

#include <unistd.h>

#include <boost/asio/post.hpp>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace dispatch {

namespace {

int create_epoll() {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  return fd;
}

}  // namespace

ReadinessPoller::ReadinessPoller(boost::asio::io_context& io)
    : io_(io), epoll_fd_(create_epoll()), watch_(io, epoll_fd_) {}

ReadinessPoller::~ReadinessPoller() {
  boost::system::error_code ignored;
  watch_.close(ignored);  // closes epoll_fd_
}

bool ReadinessPoller::add(int fd, ReadinessTarget& target) {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.ptr = &target;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) == 0;
}

void ReadinessPoller::remove(int fd) {
  epoll_event unused{};
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &unused);
}

void ReadinessPoller::start() {
  stopped_ = false;
  arm();
}

void ReadinessPoller::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  watch_.cancel(ignored);
}

void ReadinessPoller::arm() {
  watch_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                    [this](const boost::system::error_code& ec) {
                      if (ec || stopped_) return;
                      deliver_ready();
                    });
}

// Targets run synchronously here and may close any socket, their own or others' (a slow
// member, a replaced connection); a closed target stays allocated until a later handler, so
// the rest of this batch is still safe to hand out.
void ReadinessPoller::deliver_ready() {
  int count = ::epoll_wait(epoll_fd_, events_.data(), max_events_per_wait, 0);
  if (count < 0) count = 0;  // EINTR: nothing delivered, wait again
  for (int i = 0; i < count; ++i) {
    static_cast<ReadinessTarget*>(events_[static_cast<size_t>(i)].data.ptr)
        ->on_ready(events_[static_cast<size_t>(i)].events);
  }
  if (stopped_) return;
  if (count == max_events_per_wait) {
    // More may be ready: take them in a later handler so timers and other work get a turn.
    boost::asio::post(io_, [this] {
      if (!stopped_) deliver_ready();
    });
    return;
  }
  arm();
}

}  // namespace dispatch
