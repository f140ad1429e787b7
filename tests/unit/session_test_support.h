// A real event loop on its own thread with real Connections, driven from the test thread through
// socketpairs: for what needs the socket side and the loop's thread (a Completion finished from
// another thread, a connection closed under a pending step). The test is the WebSocket client: it
// upgrades, sends masked text frames and reads the server's frames, each wait bounded. Tests of
// the pipeline alone use DetachedSessions (loop_test_support.h) instead.
//
// Test steps (registered besides the built-ins):
//   t_fail          fails with `forbidden` "t_fail refused"
//   t_park          goes pending and parks its Completion in the fixture's ParkedCompletions,
//                   for the test to finish (or not) from its own thread
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "compile_test_support.h"
#include "dispatch/extension.h"
#include "pipeline/compiled_config.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "ws_test_support.h"

namespace dispatch::test_support {

// The `event` of a server frame, or "<none>".
inline std::string event_of(const boost::json::value& frame) {
  if (!frame.is_object() || !frame.as_object().contains("event")) return "<none>";
  return std::string(frame.at("event").as_string());
}

constexpr auto kWaitLimit = std::chrono::seconds(10);

// Completions of `t_park` steps, handed from the loop thread to the test thread.
class ParkedCompletions {
 public:
  void park(Completion completion) {
    {
      std::lock_guard lock(mutex_);
      parked_.push_back(std::move(completion));
    }
    ready_.notify_all();
  }
  // The oldest parked completion; fails the test if none comes within kWaitLimit.
  Completion take() {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, kWaitLimit, [&] { return !parked_.empty(); })) {
      ADD_FAILURE() << "no step parked its completion";
      return Completion();
    }
    Completion completion = std::move(parked_.front());
    parked_.pop_front();
    return completion;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Completion> parked_;
};

class FailStep final : public Step {
 public:
  StepStatus run(StepContext& ctx) override {
    return ctx.fail(ErrorCode::forbidden, "t_fail refused");
  }
};

class ParkStep final : public Step {
 public:
  explicit ParkStep(ParkedCompletions& parked) : parked_(parked) {}
  StepStatus run(StepContext& ctx) override {
    parked_.park(ctx.defer());
    return StepStatus::pending;
  }

 private:
  ParkedCompletions& parked_;
};

// One WebSocket client over a socketpair whose other end belongs to the loop.
class TestClient {
 public:
  explicit TestClient(int fd) : fd_(fd) {
    timeval limit{static_cast<time_t>(kWaitLimit.count()), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;
  ~TestClient() { close(); }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  void write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t written = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (written <= 0) {
        ADD_FAILURE() << "the server end is gone";
        return;
      }
      bytes.remove_prefix(static_cast<size_t>(written));
    }
  }

  // Upgrades and returns the welcome frame's payload ("" on failure).
  std::string upgrade() {
    write(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    while (buffer_.find("\r\n\r\n") == std::string::npos) {
      if (!fill()) return {};
    }
    const std::string head = buffer_.substr(0, buffer_.find("\r\n\r\n"));
    buffer_.erase(0, head.size() + 4);
    EXPECT_TRUE(head.starts_with("HTTP/1.1 101")) << head;
    auto welcome = next_text();
    return welcome ? *welcome : std::string();
  }

  void send_text(std::string_view json) { write(ws::test_support::text_frame(json)); }

  // The next text frame's payload, skipping pings; nullopt on close, EOF or kWaitLimit.
  std::optional<std::string> next_text() {
    for (;;) {
      auto frame = next_frame();
      if (!frame) return std::nullopt;
      if (frame->first == 0x1) return frame->second;
      if (frame->first == 0x8) return std::nullopt;
    }
  }

  // The next text frame as JSON (a null value when none came).
  boost::json::value next_json() {
    auto text = next_text();
    if (!text) {
      ADD_FAILURE() << "no frame came";
      return nullptr;
    }
    return boost::json::parse(*text);
  }

 private:
  bool fill() {
    char chunk[4096];
    ssize_t received = ::recv(fd_, chunk, sizeof chunk, 0);
    if (received <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(received));
    return true;
  }

  // opcode, payload of the next (unmasked, unfragmented) server frame.
  std::optional<std::pair<int, std::string>> next_frame() {
    for (;;) {
      if (buffer_.size() >= 2) {
        const auto byte = [&](size_t i) { return static_cast<uint8_t>(buffer_[i]); };
        uint64_t length = byte(1) & 0x7F;
        size_t header = 2;
        if (length == 126 && buffer_.size() >= 4) {
          length = (uint64_t{byte(2)} << 8) | byte(3);
          header = 4;
        } else if (length == 127 && buffer_.size() >= 10) {
          length = 0;
          for (size_t i = 2; i < 10; ++i) length = (length << 8) | byte(i);
          header = 10;
        }
        if ((byte(1) & 0x7F) < 126 || header > 2) {
          if (buffer_.size() >= header + length) {
            std::pair<int, std::string> frame{byte(0) & 0x0F, buffer_.substr(header, length)};
            buffer_.erase(0, header + length);
            return frame;
          }
        }
      }
      if (!fill()) return std::nullopt;
    }
  }

  int fd_;
  std::string buffer_;
};

// An Engine with one loop running on its own thread, a config compiled from `yaml` (anonymous
// connections allowed) with the built-in and the test steps.
class SessionFixture {
 public:
  explicit SessionFixture(const std::string& yaml) {
    auto compiled = compile_config(
        "auth:\n  anonymous: true\n  jwt:\n    secret: \"0123456789abcdef0123456789abcdef\"\n" +
            yaml,
        [this](StepRegistry& registry) {
          registry.add({"t_fail", StepKind::action, {}, [](StepBuildContext&) {
                          return std::make_unique<FailStep>();
                        }});
          registry.add({"t_park", StepKind::action, {}, [this](StepBuildContext&) {
                          return std::make_unique<ParkStep>(parked);
                        }});
        });
    if (!compiled) return;
    engine_ = std::make_unique<Engine>(1, compiled);
    engine_->loop(0).start_thread();
  }
  SessionFixture(const SessionFixture&) = delete;
  SessionFixture& operator=(const SessionFixture&) = delete;
  ~SessionFixture() { stop(); }

  bool running() const { return engine_ != nullptr; }
  Engine& engine() { return *engine_; }

  // A new connection on the loop, upgraded; the welcome frame is read.
  std::unique_ptr<TestClient> connect() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
      ADD_FAILURE() << "socketpair failed";
      return nullptr;
    }
    const int server_end = fds[1];
    ::fcntl(server_end, F_SETFL, ::fcntl(server_end, F_GETFL) | O_NONBLOCK);
    EventLoop& loop = engine_->loop(0);
    boost::asio::post(loop.io(), [&loop, server_end] { loop.add_connection(server_end, nullptr); });
    auto client = std::make_unique<TestClient>(fds[0]);
    EXPECT_NE(client->upgrade(), "");
    return client;
  }

  // Waits (bounded) until the loop has no connection left at all, freed ones included.
  bool wait_until_no_connections() {
    const auto limit = std::chrono::steady_clock::now() + kWaitLimit;
    while (engine_->live_connections().load() > 0) {
      if (std::chrono::steady_clock::now() > limit) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  // Stops the loop and frees the engine, as serve() does at the end of a shutdown.
  void stop() {
    if (!engine_) return;
    engine_->loop(0).io().stop();
    engine_->loop(0).join_thread();
    engine_.reset();
  }

  ParkedCompletions parked;

 private:
  std::unique_ptr<Engine> engine_;
};

}  // namespace dispatch::test_support
