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

#include "metrics/loop_metrics.h"
#include "protocol/frame_reader.h"
#include "session/session.h"
#include "transport/readiness_poller.h"
#include "transport/timer_wheel.h"
#include "transport/upgrade.h"

namespace dispatch {

class EventLoop;
struct PeerAddress;
struct PeerEntry;
struct StaticFile;
namespace api {
struct Request;
}
namespace cluster {
class ClusterNode;
struct Admission;
}  // namespace cluster

// Links a Connection into its loop's list of every connection it owns.
using ConnectionListHook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

class Connection final : public Session,
                         public ws::FrameReaderHandler,
                         public TimerEntry,
                         public ReadinessTarget,
                         public ConnectionListHook {
 public:
  // Takes ownership of fd, a connected non-blocking TCP socket, and of its handshake's place in
  // the engine's counts (handshaking() and the peer table entry; null: none taken).
  // `listener`: the one it came in on (the admin listener serves /metrics and /api/* only).
  Connection(EventLoop& loop, int fd, uint64_t number, PeerEntry* handshake_peer,
             Listener listener = Listener::main);
  ~Connection() override;

  void start();

  EventLoop& loop() { return loop_; }

  // Starts the close handshake (idempotent); the connection leaves its rooms at once.
  void close(uint16_t code, std::string_view reason) override;
  // Writes what is queued; called by the loop at the end of the turn.
  void flush();

  // A step went pending: the connection's timer now also fires at its deadline
  // (PendingMessage::deadline, from server.step_timeout), when the router answers it. A Completion
  // never holds the connection: it reaches it through the loop's table of in-flight tickets, which
  // forgets the ticket when the connection is freed.
  void watch_step_deadline() override;
  void continue_after_pending() override;
  void hold() { ++holds_; }  // keeps the object alive while something outside refers to it
  void release_hold();

  // --- FrameReaderHandler
  bool on_message(ws::MessageKind kind, char* data, size_t length) override;
  void on_ping(std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_close(uint16_t code, std::string_view reason) override;
  void on_protocol_error(uint16_t close_code, std::string_view reason) override;

  // --- TimerEntry
  void on_timer(SteadyTime now) override;
  void token_expiry_changed() override;

  // --- ReadinessTarget
  void on_ready(uint32_t events) override;

 private:
  friend class EventLoop;  // clears flush_requested_ when it writes

  // --- Session
  void request_flush() override;
  void flush_now() override;

  void on_readable();
  void read_later();  // reads again in a later handler (edge-triggered: no new event will come)
  void handle_handshake_bytes(char* data, size_t length);
  void accept(std::string response, struct AcceptedIdentity identity, std::string_view leftover);
  // The limits and the upgrade, once the handshake is accepted (user_limit_checked: the cluster
  // applied the per-user limit already); refuse_handshake answers a refusal.
  void admit(UpgradeDecision& decision, const PeerAddress& client, std::string_view leftover,
             bool for_websocket, bool user_limit_checked);
  void refuse_handshake(const UpgradeDecision& decision, const PeerAddress& client,
                        bool for_websocket);
  // Cluster mode with cluster-wide limits: asks Redis first (cluster/cluster_node.h).
  void admit_in_cluster(cluster::ClusterNode& node, UpgradeDecision decision, PeerAddress client,
                        std::string leftover, bool for_websocket);
  cluster::Admission cluster_admission(std::string user, const config::IpBytes& client_ip);
  void refuse_http(std::string response);
  // Gives back the handshake's place (the request head is whole, or the socket is gone).
  void end_handshake();
  // auth.max_connections_per_ip: takes a place for the TCP peer address (false: it has none
  // left); end_connection_place() gives it back.
  bool take_connection_place(const PeerAddress& address, uint32_t limit);
  void end_connection_place();
  // /api/*: checks the head, then gathers the body (Content-Length, within handshake_timeout)
  // and answers through server/api_service.h; the socket closes after the answer.
  void begin_api(std::string_view head, std::string_view leftover);
  void serve_api();
  // Sends a file of server.static_dir: the socket goes to a StaticDownload of the loop.
  void serve_static_file(StaticFile file);
  void send_control(FrameRef frame);  // queued past the limit; never dropped
  void want_flush();                  // written at the end of this turn
  // Leaves rooms, user table and directory; the first call for an accepted connection writes its
  // "connection closed" line: who closed it (`by`: server, client or network), code and reason.
  void unregister(metrics::ClosedBy by, uint16_t code, std::string_view reason);
  void abort();
  void maybe_destroy();
  void reschedule(SteadyTime now);

  EventLoop& loop_;
  int fd_;                       // -1 once closed
  bool write_blocked_ = false;   // the socket took less than offered; waiting for EPOLLOUT
  bool read_scheduled_ = false;  // read_later() is posted
  bool peer_closed_ = false;     // the client's FIN has arrived (maybe not yet read)
  bool close_after_flush_ = false;
  bool close_queued_ = false;  // our close frame is in the queue (or written)
  bool half_closed_ = false;   // we sent FIN after our close frame
  bool registered_ = false;    // in the loop's user table and the directory
  Listener listener_;
  uint32_t holds_ = 0;

  // Only until the request head is whole (for /api/*: until it is answered).
  struct HandshakeBuffer;
  std::unique_ptr<HandshakeBuffer> handshake_buffer_;
  PeerEntry* handshake_peer_ = nullptr;   // only until the request head is whole
  PeerEntry* connection_peer_ = nullptr;  // its place under auth.max_connections_per_ip, if set
  ws::FrameReader reader_;
  FrameRef pending_pong_;  // coalesced: only the latest ping is answered
  FrameRef close_frame_;   // sent after the queued data frames (or instead of them)

  SteadyTime state_deadline_{};  // handshaking: the handshake timeout; closing: the close wait
  SteadyTime last_received_{};
  SteadyTime last_data_{};
  SteadyTime last_ping_sent_{};  // our last ping, or our last pong to the client's ping
  SteadyTime opened_at_{};       // the upgrade, for the closed line's duration
  SteadyTime token_deadline_ = SteadyTime::max();  // exp + leeway of the session token
};

}  // namespace dispatch
