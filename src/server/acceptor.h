// Accepts connections on the one listening socket and hands each to an event loop, round robin.
// The listener is a target in loop 0's ReadinessPoller: on each wake-up it accepts until the
// kernel has none left (accept4, non-blocking and close-on-exec in the same call), and sends each
// other loop its new sockets in one post.
//
// Admission before any byte is read: a socket is refused at once, with a short HTTP answer and
// close, when open connections plus handshakes in progress reach server.max_connections (503;
// with auth.refuse_after_upgrade, when the handshakes alone do: the open connections' limit is
// then told after the upgrade, close 4429) or when its IP already has
// server.max_handshakes_per_ip handshakes (429). Refusals are summed up in
// the log (one line, then at most one every few seconds), so a flood cannot flood the log.
//
// Out of descriptors (EMFILE/ENFILE): the acceptor keeps one spare descriptor; it closes it,
// accepts, answers 503, closes, and opens the spare again, so waiting clients are answered rather
// than left hanging, and the listener is drained instead of waking the loop again and again.
// Other accept failures (out of memory) back off 100 ms.
#pragma once

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "transport/readiness_poller.h"
#include "transport/upgrade.h"

namespace dispatch {

class Engine;
struct PeerEntry;

class Acceptor final : public ReadinessTarget {
 public:
  // listener: bound and listening, created on loop 0's io_context. `role`: the main listener
  // (server.address) or the admin one (server.admin_address), told to each connection.
  Acceptor(Engine& engine, boost::asio::ip::tcp::acceptor listener, Listener role = Listener::main);
  ~Acceptor();

  void start();  // on loop 0's thread
  void stop();   // on loop 0's thread; connections already handed over stay

  void on_ready(uint32_t events) override;

 private:
  struct Accepted {
    int fd;
    PeerEntry* peer;  // its handshake, counted in the engine's peer table
  };

  void accept_ready();
  // Admits the socket (queued for a loop) or refuses it; returns false when refused.
  bool admit(int fd, const sockaddr_storage& peer_address);
  // Answers a refused socket with a short response and closes it.
  void refuse(int fd, int status, std::string_view code, std::string_view message);
  // EMFILE/ENFILE: accepts one socket with the spare descriptor and answers 503. Returns the
  // errno of that accept (0 when a socket was answered or another accept may succeed).
  int refuse_with_spare(int accept_error);
  void back_off(int error);

  Engine& engine_;
  boost::asio::ip::tcp::acceptor listener_;
  Listener role_;
  boost::asio::steady_timer backoff_;
  std::vector<std::vector<Accepted>> handoff_;  // per loop, this wake-up's sockets
  unsigned next_loop_ = 0;
  int spare_fd_ = -1;  // /dev/null, given up for a moment when descriptors run out
  uint64_t failed_accepts_ = 0;
  std::chrono::steady_clock::time_point last_warning_{};
  uint64_t refused_ = 0;  // since the last log line about refusals
  std::chrono::steady_clock::time_point last_refusal_log_{};
  bool stopped_ = false;
};

}  // namespace dispatch
