// What the engine knows of one client, without its socket: who it is (user id, permissions and
// the token claims templates read, taken from the token once at the handshake), the rooms it is
// in, the queue its frames wait in, its error budget, and the message that waits for a pending
// step. The pipeline, rooms and fan-out see only this. The server's Connection is a Session with
// a TCP socket (server/connection.h); `dispatch test` drives sessions of its own through the same
// pipeline.
//
// A subclass says how the session's frames leave (request_flush, flush_now), how it is closed
// and what happens after a pending step; everything else lives here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwt.h"
#include "clock/clock.h"
#include "config/cidr.h"
#include "dispatch/error_code.h"
#include "frames/out_frame.h"
#include "session/error_budget.h"
#include "session/pending_message.h"
#include "session/send_queue.h"
#include "session/session_context.h"
#include "session/session_lists.h"

namespace dispatch {

class Session {
 public:
  enum class State : uint8_t { handshaking, open, closing, closed };

  // Who a client is once its token was accepted.
  struct Identity {
    std::string user_id;
    std::vector<std::string> permissions;
    std::vector<auth::NamedClaim> claims;  // only those a template reads
    // The client's IP (through server.trusted_proxies), as 16 bytes; all zero when unknown.
    config::IpBytes client_ip{};
  };

  State state() const { return state_; }
  bool is_open() const { return state_ == State::open; }
  uint64_t number() const { return number_; }
  std::string id() const;  // "<node id>-<number>", unique across the cluster
  const std::string& user_id() const { return user_id_; }
  const config::IpBytes& client_ip() const { return client_ip_; }
  // Messages the client sent, and frames queued for it (for the connection's closed line).
  uint64_t messages_in() const { return messages_in_; }
  uint64_t messages_out() const { return messages_out_; }
  void count_message_in() { ++messages_in_; }
  const std::vector<std::string>& permissions() const;
  const auth::ClaimValue* claim(std::string_view name) const;
  RoomList& rooms() { return rooms_; }
  bool is_member(std::string_view room) const;
  // The session token's `exp` (unix seconds), when it has one.
  std::optional<int64_t> token_expires_at() const { return token_expires_at_; }
  // `_refresh` (pipeline/token_refresh.h): a newer token of the same user replaces the
  // permissions, the claims templates read and the expiry.
  void replace_token(std::vector<std::string> permissions, std::vector<auth::NamedClaim> claims,
                     std::optional<int64_t> expires_at);

  // Queues a data frame (only while open); applies server.slow_consumer when the queue is over
  // server.send_queue_limit or the process over its cap.
  void send(const FrameRef& frame);
  // Sends an error frame and charges the error budget (server.error_budget) unless the code
  // does not count; a session that has spent its budget is closed with 1008.
  void send_error(ErrorCode code, const FrameRef& frame);
  // Starts closing with a close code and reason (idempotent); the session leaves its rooms at
  // once.
  virtual void close(uint16_t code, std::string_view reason) = 0;

  // --- a step that finishes later (pipeline/router.cpp)
  PendingMessage* pending() { return pending_.get(); }
  void set_pending(std::unique_ptr<PendingMessage> pending) { pending_ = std::move(pending); }
  std::unique_ptr<PendingMessage> take_pending() { return std::move(pending_); }
  // A step went pending: its deadline (PendingMessage::deadline) is now one of the session's.
  virtual void watch_step_deadline() = 0;
  // After a pending message finished: runs the messages queued meanwhile, then reads again.
  virtual void continue_after_pending() = 0;

  SessionContext& context() const { return context_; }
  const Clock& clock() const { return context_.clock(); }

  // Frames waiting to leave (the subclass writes them; a test reads them).
  SendQueue& queue() { return queue_; }

 protected:
  Session(SessionContext& context, uint64_t number) : context_(context), number_(number) {}
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void set_identity(Identity identity);
  void set_token_expiry(std::optional<int64_t> expires_at) { token_expires_at_ = expires_at; }
  // The token's expiry changed (`_refresh`): the subclass moves its 4401 deadline.
  virtual void token_expiry_changed() = 0;
  // Something was queued: the subclass makes sure it is written (at the end of the turn). Called
  // once until the subclass clears flush_requested_.
  virtual void request_flush() = 0;
  // The queue is over its limit within one turn: the subclass writes what it can now, so that
  // only a client that does not read counts as slow. May close the session.
  virtual void flush_now() = 0;

  // A control frame (the HTTP response, ping, pong, close): past every limit, never dropped.
  void queue_control(FrameRef frame);
  // Forgets what is queued (the session is gone) and gives its bytes back to the count.
  void drop_queue();

  State state_ = State::handshaking;
  SendQueue queue_;
  // request_flush() was called and the frames are not written yet: later sends of the same turn
  // ask no more. The subclass clears it when it writes.
  bool flush_requested_ = false;

 private:
  bool over_queue_limit(size_t adding) const;
  // Returns whether the new frame is still to be queued.
  bool apply_slow_consumer_policy(size_t adding);

  SessionContext& context_;
  uint64_t number_;
  std::string user_id_;
  config::IpBytes client_ip_{};
  uint64_t messages_in_ = 0;
  uint64_t messages_out_ = 0;
  // The token's perms and the claims some template reads: most sessions have neither, so they
  // live behind one pointer that stays null.
  struct TokenDetails {
    std::vector<std::string> permissions;
    std::vector<auth::NamedClaim> claims;
  };
  std::unique_ptr<TokenDetails> token_details_;
  std::optional<int64_t> token_expires_at_;
  RoomList rooms_;
  ErrorBudget error_budget_;
  std::unique_ptr<PendingMessage> pending_;
};

}  // namespace dispatch
