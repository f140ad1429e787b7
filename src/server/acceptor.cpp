#include "server/acceptor.h"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include <cerrno>
#include <cstring>

#include "log/log.h"
#include "server/engine.h"
#include "server/event_loop.h"

namespace dispatch {

namespace {
// Accepted per wake-up before other work gets a turn.
constexpr int accepts_per_turn = 64;
}  // namespace

Acceptor::Acceptor(Engine& engine, boost::asio::ip::tcp::acceptor listener)
    : engine_(engine),
      listener_(std::move(listener)),
      backoff_(listener_.get_executor()),
      handoff_(engine.loop_count()) {}

void Acceptor::start() {
  boost::system::error_code ec;
  listener_.non_blocking(true, ec);
  if (ec) {
    log::error("cannot make the listening socket non-blocking").field("error", ec.message());
  } else if (!engine_.loop(0).poller().add(listener_.native_handle(), *this)) {
    log::error("cannot watch the listening socket").field("error", std::strerror(errno));
  }
}

void Acceptor::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  listener_.close(ec);  // also leaves the poller
  backoff_.cancel();
}

void Acceptor::on_ready(uint32_t) {
  if (!stopped_) accept_ready();
}

void Acceptor::accept_ready() {
  int accepted = 0;
  bool more = true;
  while (accepted < accepts_per_turn) {
    int fd = ::accept4(listener_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        more = false;
      } else {
        back_off(errno);  // out of descriptors or memory: the listener stays readable
        more = false;
      }
      break;
    }
    ++accepted;
    handoff_[next_loop_].push_back(fd);
    next_loop_ = (next_loop_ + 1) % engine_.loop_count();
  }

  for (unsigned index = 0; index < handoff_.size(); ++index) {
    std::vector<int>& fds = handoff_[index];
    if (fds.empty()) continue;
    EventLoop& target = engine_.loop(index);
    if (index == 0) {  // this thread
      for (int fd : fds) target.add_connection(fd);
      fds.clear();
    } else {
      boost::asio::post(target.io(), [&target, batch = std::move(fds)] {
        for (int fd : batch) target.add_connection(fd);
      });
      fds = {};
    }
  }

  // Edge-triggered: a listener left with waiting connections gets no new event, so come back.
  if (more) {
    boost::asio::post(listener_.get_executor(), [this] {
      if (!stopped_) accept_ready();
    });
  }
}

void Acceptor::back_off(int error) {
  ++failed_accepts_;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_warning_ >= std::chrono::seconds(5)) {
    last_warning_ = now;
    log::warn("accept failed; retrying every 100 ms")
        .field("error", std::strerror(error))
        .field("failures_since_last_warning", failed_accepts_);
    failed_accepts_ = 0;
  }
  backoff_.expires_after(std::chrono::milliseconds(100));
  backoff_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopped_) accept_ready();
  });
}

}  // namespace dispatch
