#include "server/acceptor.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include <cerrno>
#include <cstring>

#include "config/config.h"
#include "log/log.h"
#include "pipeline/compiled_config.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "server/peer_table.h"
#include "transport/upgrade.h"

namespace dispatch {

namespace {
// Accepted per wake-up before other work gets a turn.
constexpr int accepts_per_turn = 64;
constexpr auto refusal_log_interval = std::chrono::seconds(5);

int open_spare() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}
}  // namespace

Acceptor::Acceptor(Engine& engine, boost::asio::ip::tcp::acceptor listener, Listener role)
    : engine_(engine),
      listener_(std::move(listener)),
      role_(role),
      backoff_(listener_.get_executor()),
      handoff_(engine.loop_count()) {}

Acceptor::~Acceptor() {
  if (spare_fd_ >= 0) ::close(spare_fd_);
}

void Acceptor::start() {
  spare_fd_ = open_spare();
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
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    int fd = ::accept4(listener_.native_handle(), reinterpret_cast<sockaddr*>(&peer), &peer_length,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int error = errno;
      if (error == EINTR || error == ECONNABORTED) continue;
      if ((error == EMFILE || error == ENFILE) && spare_fd_ >= 0) {
        error = refuse_with_spare(error);
        if (error == 0) {
          ++accepted;
          continue;
        }
      }
      if (error != EAGAIN && error != EWOULDBLOCK) {
        back_off(error);  // out of memory, or no spare left: the listener stays readable
      }
      more = false;
      break;
    }
    ++accepted;
    admit(fd, peer);
  }

  for (unsigned index = 0; index < handoff_.size(); ++index) {
    std::vector<Accepted>& sockets = handoff_[index];
    if (sockets.empty()) continue;
    EventLoop& target = engine_.loop(index);
    if (index == 0) {  // this thread
      for (const Accepted& socket : sockets) target.add_connection(socket.fd, socket.peer, role_);
      sockets.clear();
    } else {
      boost::asio::post(target.io(), [&target, role = role_, batch = std::move(sockets)] {
        for (const Accepted& socket : batch) target.add_connection(socket.fd, socket.peer, role);
      });
      sockets = {};
    }
  }

  // Edge-triggered: a listener left with waiting connections gets no new event, so come back.
  if (more) {
    boost::asio::post(listener_.get_executor(), [this] {
      if (!stopped_) accept_ready();
    });
  }
}

bool Acceptor::admit(int fd, const sockaddr_storage& peer_address) {
  const auto& config = engine_.loop(0).config().config();
  const auto& server = config.server;
  // Handshakes count toward server.max_connections with the open connections. With
  // auth.refuse_after_upgrade a client that finds the open connections alone at the limit is
  // still let through its handshake (fewer than max_connections at once), so that it is told
  // why with close 4429 rather than with a 503 its browser cannot show.
  const auto limit = static_cast<int64_t>(server.max_connections);
  const int64_t handshaking = engine_.handshaking().load();
  const int64_t counted = config.auth.refuse_after_upgrade
                              ? handshaking
                              : handshaking + engine_.open_connections().load();
  if (limit > 0 && counted >= limit) {
    refuse(fd, 503, "server_full", "the server is at server.max_connections: try again later");
    return false;
  }
  PeerEntry* peer = engine_.peers().try_begin_handshake(PeerAddress::from(peer_address),
                                                        server.max_handshakes_per_ip);
  if (!peer) {
    refuse(fd, 429, "too_many_handshakes",
           "this address has server.max_handshakes_per_ip connections still in their handshake: "
           "finish one first");
    return false;
  }
  engine_.handshaking().fetch_add(1);
  handoff_[next_loop_].push_back({fd, peer});
  next_loop_ = (next_loop_ + 1) % engine_.loop_count();
  return true;
}

void Acceptor::refuse(int fd, int status, std::string_view code, std::string_view message) {
  UpgradeRefusal refusal;
  refusal.status = status;
  refusal.code = std::string(code);
  refusal.message = std::string(message);
  const std::string response = refusal_response(refusal);
  // A fresh socket's send buffer is empty: the short answer goes out whole without waiting.
  (void)::send(fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  // Unread request bytes would turn the close into a reset that can discard the answer.
  char discard[4096];
  for (int round = 0; round < 16 && ::recv(fd, discard, sizeof discard, MSG_DONTWAIT) > 0;
       ++round) {
  }
  ::close(fd);

  ++refused_;
  engine_.loop(0).sessions().metrics().count_refused(code);  // the acceptor runs on loop 0
  const auto now = std::chrono::steady_clock::now();
  if (now - last_refusal_log_ >= refusal_log_interval) {
    last_refusal_log_ = now;
    log::info("connection refused")
        .field("status", status)
        .field("code", code)
        .field("reason", message)
        .field("refused_since_last_report", refused_);
    refused_ = 0;
  }
}

int Acceptor::refuse_with_spare(int accept_error) {
  ::close(spare_fd_);
  spare_fd_ = -1;
  int fd = ::accept4(listener_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  const int error = fd < 0 ? errno : 0;
  if (fd >= 0) {
    refuse(fd, 503, "server_full", "the server has no file descriptors left: try again later");
    ++failed_accepts_;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_warning_ >= std::chrono::seconds(5)) {
      last_warning_ = now;
      log::warn("accept: out of file descriptors; new clients are answered 503")
          .field("error", std::strerror(accept_error))
          .field("failures_since_last_warning", failed_accepts_);
      failed_accepts_ = 0;
    }
  }
  spare_fd_ = open_spare();  // fails only if another thread took the descriptor meanwhile
  return error == EINTR || error == ECONNABORTED ? 0 : error;  // 0: try the next one
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
    if (ec || stopped_) return;
    if (spare_fd_ < 0) spare_fd_ = open_spare();
    accept_ready();
  });
}

}  // namespace dispatch
