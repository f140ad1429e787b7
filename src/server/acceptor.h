// Accepts connections on the one listening socket and hands each to an event loop, round robin.
// The listener is a target in loop 0's ReadinessPoller: on each wake-up it accepts until the
// kernel has none left (accept4, non-blocking and close-on-exec in the same call), and sends each
// other loop its new sockets in one post. When accept fails for want of descriptors or memory it
// backs off 100 ms instead of spinning, and says so in the log once every few seconds.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

#include "transport/readiness_poller.h"

namespace dispatch {

class Engine;

class Acceptor final : public ReadinessTarget {
 public:
  // listener: bound and listening, created on loop 0's io_context.
  Acceptor(Engine& engine, boost::asio::ip::tcp::acceptor listener);

  void start();  // on loop 0's thread
  void stop();   // on loop 0's thread; connections already handed over stay

  void on_ready(uint32_t events) override;

 private:
  void accept_ready();
  void back_off(int error);

  Engine& engine_;
  boost::asio::ip::tcp::acceptor listener_;
  boost::asio::steady_timer backoff_;
  std::vector<std::vector<int>> handoff_;  // per loop, this wake-up's sockets
  unsigned next_loop_ = 0;
  uint64_t failed_accepts_ = 0;
  std::chrono::steady_clock::time_point last_warning_{};
  bool stopped_ = false;
};

}  // namespace dispatch
