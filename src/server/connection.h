// One client connection, owned by one event loop for its whole life. Its life reads in order:
//   handshaking — bytes gathered until the request head is whole (bounded by max_header_size
//                 and handshake_timeout), then decide_upgrade() accepts or refuses;
//   open        — frames decoded in place by the FrameReader, messages handed to the router,
//                 frames queued by anyone on this loop and written in one writev per turn;
//   closing     — our close frame is queued; we wait (bounded) for the client's;
//   closed      — socket closed; the object is freed in a later handler, once nothing holds it.
// The socket is a plain descriptor in the loop's ReadinessPoller (added once, edge-triggered):
// when it is readable the connection reads into the loop's shared buffer until a read comes
// back short, so an idle connection holds no read buffer; its only timer is an entry in the
// loop's wheel.
#pragma once

#include <boost/intrusive/list_hook.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "session/error_budget.h"
#include "dispatch/error_code.h"
#include "frames/out_frame.h"
#include "protocol/frame_reader.h"
#include "pipeline/router.h"
#include "session/session_lists.h"
#include "transport/readiness_poller.h"
#include "session/send_queue.h"
#include "transport/timer_wheel.h"

namespace dispatch {

class EventLoop;
struct LocalRoom;
struct PeerEntry;
struct StaticFile;
struct PendingMessage;

class Connection final : public ws::FrameReaderHandler,
                         public TimerEntry,
                         public ReadinessTarget,
                         public ConnectionListHook {
 public:
  enum class State : uint8_t { handshaking, open, closing, closed };

  // Takes ownership of fd, a connected non-blocking TCP socket, and of its handshake's place in
  // the engine's counts (handshaking() and the peer table entry; null: none taken).
  Connection(EventLoop& loop, int fd, uint64_t number, PeerEntry* handshake_peer);
  ~Connection() override;

  void start();

  EventLoop& loop() { return loop_; }
  State state() const { return state_; }
  bool is_open() const { return state_ == State::open; }
  uint64_t number() const { return number_; }
  std::string id() const;  // "<node id>-<number>", unique across the cluster
  const std::string& user_id() const { return user_id_; }
  const std::vector<std::string>& permissions() const;
  // A kept token claim: is_string + text (unescaped string, or compact JSON otherwise).
  const std::pair<bool, std::string>* claim(std::string_view name) const;
  RoomList& rooms() { return rooms_; }
  bool is_member(std::string_view room) const;

  // Queues a data frame; applies server.slow_consumer when the queue is over its limit.
  void send(const FrameRef& frame);
  // Starts the close handshake (idempotent); the connection leaves its rooms at once.
  void close(uint16_t code, std::string_view reason);
  // Writes what is queued; called by the loop at the end of the turn.
  void flush();

  // Sends an error frame and charges the error budget (server.error_budget) unless the code
  // does not count; a connection that has spent its budget is closed with 1008.
  void send_error(ErrorCode code, const FrameRef& frame);

  // --- steps that finish later (pipeline/message_run.cpp)
  PendingMessage* pending() { return pending_.get(); }
  void set_pending(std::unique_ptr<PendingMessage> pending);
  std::unique_ptr<PendingMessage> take_pending() { return std::move(pending_); }
  // A step went pending: the connection's timer now also fires at its deadline
  // (PendingMessage::deadline, from server.step_timeout), when the router answers it. A Completion
  // never holds the connection: it reaches it through the loop's table of in-flight tickets, which
  // forgets the ticket when the connection is freed.
  void watch_step_deadline();
  void hold() { ++holds_; }  // keeps the object alive while something outside refers to it
  void release_hold();
  // After a pending message finished: runs the messages queued meanwhile, then reads again.
  void continue_after_pending();

  // --- FrameReaderHandler
  bool on_message(ws::MessageKind kind, char* data, size_t length) override;
  void on_ping(std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_close(uint16_t code, std::string_view reason) override;
  void on_protocol_error(uint16_t close_code, std::string_view reason) override;

  // --- TimerEntry
  void on_timer(SteadyTime now) override;

  // --- ReadinessTarget
  void on_ready(uint32_t events) override;

 private:
  friend class EventLoop;  // manages flush_scheduled_

  void on_readable();
  void read_later();  // reads again in a later handler (edge-triggered: no new event will come)
  void handle_handshake_bytes(char* data, size_t length);
  void accept(std::string response, struct AcceptedIdentity identity, std::string_view leftover);
  void refuse_http(std::string response);
  // Gives back the handshake's place (the request head is whole, or the socket is gone).
  void end_handshake();
  // Sends a file of server.static_dir: the socket goes to a StaticDownload of the loop.
  void serve_static_file(StaticFile file);
  void send_control(FrameRef frame);   // queued past the limit; never dropped
  void queue_control(FrameRef frame);  // the same, without asking for a flush
  bool over_queue_limit(size_t adding) const;
  bool apply_slow_consumer_policy(size_t adding);
  void account_queued(int64_t delta);
  void unregister();
  void abort();
  void maybe_destroy();
  void reschedule(SteadyTime now);

  EventLoop& loop_;
  uint64_t number_;
  int fd_;  // -1 once closed
  State state_ = State::handshaking;
  bool write_blocked_ = false;    // the socket took less than offered; waiting for EPOLLOUT
  bool read_scheduled_ = false;   // read_later() is posted
  bool peer_closed_ = false;      // the client's FIN has arrived (maybe not yet read)
  bool flush_scheduled_ = false;  // in the loop's flush list
  bool close_after_flush_ = false;
  bool close_queued_ = false;  // our close frame is in the queue (or written)
  bool half_closed_ = false;   // we sent FIN after our close frame
  bool registered_ = false;    // in the loop's user table and the directory
  uint32_t holds_ = 0;

  std::string user_id_;
  // The token's perms and the claims some template reads: most connections have neither, so
  // they live behind one pointer that stays null.
  struct TokenDetails {
    std::vector<std::string> permissions;
    std::vector<std::pair<std::string, std::pair<bool, std::string>>> claims;
  };
  std::unique_ptr<TokenDetails> token_details_;
  RoomList rooms_;

  std::unique_ptr<std::string> handshake_buffer_;  // only until the request head is whole
  PeerEntry* handshake_peer_ = nullptr;            // only until the request head is whole
  ws::FrameReader reader_;
  SendQueue queue_;
  FrameRef pending_pong_;  // coalesced: only the latest ping is answered
  FrameRef close_frame_;   // sent after the queued data frames (or instead of them)

  SteadyTime state_deadline_{};  // handshaking: the handshake timeout; closing: the close wait
  SteadyTime last_received_{};
  SteadyTime last_data_{};
  SteadyTime last_ping_sent_{};  // our last ping, or our last pong to the client's ping
  SteadyTime token_deadline_ = SteadyTime::max();  // exp + leeway of the session token
  ErrorBudget error_budget_;

  std::unique_ptr<PendingMessage> pending_;
};

}  // namespace dispatch
