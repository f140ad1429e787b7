// An Engine whose loops never start their threads: a unit test drives each loop's io_context by
// hand (run_ready), so what one loop hands to another can be seen step by step. Clients are
// DetachedSessions: sessions without a socket, whose frames stay in their queue for the test to
// read, driven through the same pipeline, rooms and fan-out as a real connection.
#pragma once

#include <gtest/gtest.h>

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compile_test_support.h"
#include "dispatch/extension.h"
#include "pipeline/compiled_config.h"
#include "pipeline/router.h"
#include "protocol/frame_reader.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "session/session.h"

namespace dispatch::test_support {

inline std::shared_ptr<const CompiledConfig> minimal_compiled_config(
    const std::string& extra_server_yaml = "") {
  return compile_config("server:\n  address: \"127.0.0.1:0\"\n" + extra_server_yaml +
                        "auth:\n  jwt:\n    secret: ${DISPATCH_JWT_SECRET}\nevents: {}\n");
}

// Runs the handlers that are ready on the loop's io_context; returns how many ran.
inline size_t run_ready(EventLoop& loop) {
  loop.io().restart();
  return loop.io().poll();
}

// A session of `loop` without a socket. It starts handshaking (no identity, not open);
// open_as() gives it a user and makes it open, as an accepted upgrade does.
class DetachedSession final : public Session {
 public:
  explicit DetachedSession(EventLoop& loop)
      : Session(loop.sessions(), loop.engine().next_connection_number()), loop_(loop) {}
  ~DetachedSession() { end(); }

  void open_as(std::string user, std::vector<std::string> permissions = {},
               std::vector<auth::NamedClaim> claims = {}) {
    Identity identity;
    identity.user_id = std::move(user);
    identity.permissions = std::move(permissions);
    identity.claims = std::move(claims);
    set_identity(std::move(identity));
    state_ = State::open;
    std::optional<UserConnection> replaced;  // no per-user limit here
    loop_.delivery().directory().admit_connection(
        user_id(), {number(), static_cast<uint16_t>(loop_.index())}, 0, false, replaced);
    loop_.delivery().add_user_session(*this);
    loop_.hooks().opened(*this);
  }

  // Runs one client message through the pipeline, as a text frame from a socket would.
  void receive(std::string_view json) {
    std::string copy(json);
    copy.reserve(copy.size() + ws::message_padding);
    if (pending()) {
      router::queue_while_pending(*this, copy.data(), copy.size(), 64);
      return;
    }
    router::handle_message(loop_, *this, ws::MessageKind::text, copy.data(), copy.size());
  }

  // The payloads of the text frames queued since the last call, oldest first.
  std::vector<std::string> take_texts() {
    std::vector<std::string> texts;
    iovec vectors[64];
    while (!queue_.empty()) {
      const int count = queue_.gather(vectors, 64);
      size_t bytes = 0;
      for (int i = 0; i < count; ++i) {
        const auto* frame = static_cast<const uint8_t*>(vectors[i].iov_base);
        const size_t size = vectors[i].iov_len;
        bytes += size;
        size_t header = 2;
        if ((frame[1] & 0x7F) == 126) header = 4;
        if ((frame[1] & 0x7F) == 127) header = 10;
        if ((frame[0] & 0x0F) == 0x1) {
          texts.emplace_back(reinterpret_cast<const char*>(frame) + header, size - header);
        }
      }
      queue_.consume(bytes);
      context().account_queued(-static_cast<int64_t>(bytes));
    }
    flush_requested_ = false;
    return texts;
  }

  std::optional<uint16_t> close_code() const { return close_code_; }

  void close(uint16_t code, std::string_view) override {
    if (state_ == State::closed) return;
    close_code_ = code;
    end();
  }
  void watch_step_deadline() override {}
  void token_expiry_changed() override {}
  void continue_after_pending() override { router::run_queued(loop_, *this); }

 private:
  void request_flush() override {}
  void flush_now() override {}
  void end() {
    if (state_ == State::open) {  // rooms joined through the loop's delivery
      loop_.hooks().closing(*this);
      loop_.delivery().rooms().leave_all(*this);
      loop_.delivery().remove_user_session(*this);
      loop_.delivery().directory().remove_connection(user_id(), number());
    }
    state_ = State::closed;
    drop_queue();
  }

  EventLoop& loop_;
  std::optional<uint16_t> close_code_;
};

}  // namespace dispatch::test_support
