#include "server/connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "api/api_request.h"
#include "cluster/cluster_node.h"
#include "config/config.h"
#include "delivery/local_rooms.h"
#include "frames/server_frames.h"
#include "log/log.h"
#include "pipeline/compiled_config.h"
#include "pipeline/router.h"
#include "protocol/websocket.h"
#include "server/admission.h"
#include "server/api_service.h"
#include "server/client_address.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "server/metrics_exposition.h"
#include "server/peer_table.h"
#include "template/json_escape.h"
#include "transport/upgrade.h"

namespace dispatch {

namespace {

constexpr auto close_handshake_limit = std::chrono::seconds(2);
// Messages that may wait behind a pending one before the connection stops reading.
constexpr size_t max_queued_messages = 64;

const FrameRef& ping_frame() {
  static const FrameRef frame = build_control_frame(0x9, {});
  return frame;
}

// How long an API request may wait for its answer once its body is whole (a reload, room info
// gathered from every loop); then the socket is closed unanswered.
constexpr auto api_answer_limit = std::chrono::seconds(60);

}  // namespace

// The request head as it arrives; for /api/*, the checked head and the body after it.
struct Connection::HandshakeBuffer {
  std::string bytes;
  std::optional<api::Request> api;  // set once an /api/* head passed its checks
  bool answering = false;           // the API request is whole: later bytes are dropped
  bool admitting = false;           // waiting for the cluster's admission: later bytes are kept
};

Connection::Connection(EventLoop& loop, int fd, uint64_t number, PeerEntry* handshake_peer,
                       Listener listener)
    : Session(loop.sessions(), number),
      loop_(loop),
      fd_(fd),
      listener_(listener),
      handshake_peer_(handshake_peer),
      reader_(loop.config().config().server.max_message_size) {}

Connection::~Connection() {
  if (pending() && pending()->in_flight) loop_.remove_pending_step(pending()->ticket);
  if (fd_ >= 0) ::close(fd_);
  end_handshake();
  end_connection_place();
}

void Connection::start() {
  // TCP_NODELAY comes from the listening socket (Linux copies it to accepted sockets).
  const SteadyTime now = clock().now();
  state_deadline_ = now + loop_.config().config().server.handshake_timeout;
  last_received_ = last_data_ = last_ping_sent_ = now;
  reschedule(now);
  // Bytes that arrived before this are reported at once: adding a ready socket signals it.
  if (!loop_.poller().add(fd_, *this)) abort();
}

// ---------------------------------------------------------------- reading

void Connection::on_ready(uint32_t events) {
  if (state_ == State::closed) return;
  if ((events & EPOLLOUT) && write_blocked_) {
    write_blocked_ = false;
    flush();
    if (state_ == State::closed) return;
  }
  const bool failed = (events & (EPOLLERR | EPOLLHUP)) != 0;
  // The client's FIN may have come with its last bytes: then a short read does not mean the
  // socket is drained, the end of the stream is still to be read (and no new event will say so).
  if (events & (EPOLLRDHUP | EPOLLHUP)) peer_closed_ = true;
  if (events & (EPOLLIN | EPOLLRDHUP) || failed) {
    if (!reader_.paused()) {
      on_readable();
    } else if (failed) {
      abort();  // nobody will read what is left: the socket is gone
    }
  }
}

// Reads until the kernel has no more (a short read; after the client's FIN, until the end of the
// stream) or the reader pauses. A client that keeps the socket full is read a few buffers at a
// time so others get their turn.
void Connection::on_readable() {
  constexpr int reads_per_turn = 4;
  char* buffer = loop_.read_buffer();
  for (int round = 0; round < reads_per_turn; ++round) {
    ssize_t received = ::recv(fd_, buffer, EventLoop::read_buffer_size, 0);
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) abort();
      return;
    }
    if (received == 0) {  // the client closed its side: what was queued for it goes first
      flush();
      abort();
      return;
    }
    last_received_ = clock().now();
    const auto length = static_cast<size_t>(received);
    if (state_ == State::handshaking) {
      handle_handshake_bytes(buffer, length);
    } else if (state_ == State::open || state_ == State::closing) {
      reader_.set_max_message_size(loop_.config().config().server.max_message_size);
      reader_.feed(buffer, length, *this);
    }
    if (state_ == State::closed || reader_.paused()) return;
    // Drained: the next byte brings an event.
    if (length < EventLoop::read_buffer_size && !peer_closed_) return;
  }
  read_later();
}

void Connection::read_later() {
  if (read_scheduled_ || state_ == State::closed) return;
  read_scheduled_ = true;
  hold();
  boost::asio::post(loop_.io(), [this] {
    read_scheduled_ = false;
    if (state_ != State::closed && !reader_.paused()) on_readable();
    release_hold();
  });
}

void Connection::handle_handshake_bytes(char* data, size_t length) {
  const auto& server = loop_.config().config().server;
  if (!handshake_buffer_) handshake_buffer_ = std::make_unique<HandshakeBuffer>();
  HandshakeBuffer& handshake = *handshake_buffer_;
  if (handshake.answering) return;  // one request per connection: what follows is not read
  if (handshake.admitting) {  // the upgrade waits for the cluster: what comes meanwhile is kept
    if (handshake.bytes.size() + length > server.max_header_size + server.max_message_size) {
      abort();
      return;
    }
    handshake.bytes.append(data, length);
    return;
  }
  std::string& buffered = handshake.bytes;
  buffered.append(data, length);
  if (handshake.api) {
    if (buffered.size() >= handshake.api->body_length) serve_api();
    return;
  }
  size_t head_end = buffered.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    if (buffered.size() > server.max_header_size) {
      context().metrics().count_refused("headers_too_large");
      UpgradeRefusal refusal{431, "headers_too_large",
                             "the request headers are larger than server.max_header_size", false,
                             0};
      refuse_http(refusal_response(refusal));
    }
    return;
  }
  std::string request = buffered.substr(0, head_end + 4);
  std::string leftover = buffered.substr(head_end + 4);

  const CompiledConfig& compiled = loop_.config();
  const config::AuthConfig& auth = compiled.config().auth;
  const PeerAddress peer_address = handshake_peer_ ? handshake_peer_->address : PeerAddress{};
  // Who the client is for the per-IP limits, rate_limit's `ip` key and the log: the TCP peer,
  // or behind a trusted proxy the address it forwards.
  const PeerAddress client =
      server.trusted_proxies.empty()
          ? peer_address
          : client_address(peer_address, forwarded_for_header(request), server.trusted_proxies);
  // A request for the WebSocket endpoint, not for a page or /metrics.
  const bool for_websocket = request_path(request) == server.path;
  if (auth.handshake_rate_per_ip.count > 0 && handshake_peer_ && for_websocket) {
    const SlidingWindowCounter::Decision rate =
        loop_.engine().handshake_rate().hit(client, auth.handshake_rate_per_ip, clock().now());
    if (!rate.allowed) {
      end_handshake();
      context().metrics().count_refused("handshake_rate_limited");
      log::debug("connection refused")
          .field("status", 429)
          .field("code", "handshake_rate_limited")
          .field("client_ip", client.text());
      UpgradeRefusal refusal{429,
                             "handshake_rate_limited",
                             "this client IP asks to connect more often than "
                             "auth.handshake_rate_per_ip allows: retry later",
                             false,
                             0,
                             rate.retry_after_ms};
      refuse_http(refusal_response(refusal));
      return;
    }
  }
  UpgradeDecision decision = decide_upgrade(request, compiled, clock().unix_seconds(), listener_);
  if (decision.api) {
    begin_api(request, leftover);
    return;
  }
  handshake_buffer_.reset();
  if (decision.static_file) {
    serve_static_file(std::move(*decision.static_file));
    return;
  }
  end_handshake();  // before taking a place among the open connections
  if (decision.metrics) {
    refuse_http(plain_http_response(200, "text/plain; version=0.0.4; charset=utf-8",
                                    metrics_text(loop_.engine())));
    return;
  }
  if (decision.readiness) {
    std::string why_not;
    const bool ready = loop_.engine().ready(&why_not);
    refuse_http(readiness_response(ready, why_not));
    return;
  }
  if (!decision.http_response.empty()) {
    refuse_http(std::move(decision.http_response));
    return;
  }
  const uint32_t per_ip_limit = auth.max_connections_per_ip;
  if (decision.accepted && per_ip_limit > 0 && !take_connection_place(client, per_ip_limit)) {
    decision.accepted.reset();
    decision.refusal = ip_limit_refusal();
  }
  if (decision.accepted) {
    if (cluster::ClusterNode* node = loop_.engine().cluster()) {
      admit_in_cluster(*node, std::move(decision), client, std::move(leftover), for_websocket);
      return;
    }
    admit(decision, client, leftover, for_websocket, false);
    return;
  }
  refuse_handshake(decision, client, for_websocket);
}

void Connection::admit(UpgradeDecision& decision, const PeerAddress& client,
                       std::string_view leftover, bool for_websocket, bool user_limit_checked) {
  if (std::optional<AcceptedIdentity> accepted =
          admit_session(decision, loop_, *this, user_limit_checked)) {
    registered_ = true;
    accepted->identity.client_ip = client.bytes;
    std::string response = std::move(decision.accepted->response);
    accept(std::move(response), std::move(*accepted), leftover);
    return;
  }
  end_connection_place();
  refuse_handshake(decision, client, for_websocket);
}

void Connection::refuse_handshake(const UpgradeDecision& decision, const PeerAddress& client,
                                  bool for_websocket) {
  const UpgradeRefusal& refusal = decision.refusal;
  // A refused WebSocket handshake is an operator's business; a 404 for a page (a browser's
  // /favicon.ico) is not a refused connection.
  if (for_websocket) context().metrics().count_refused(refusal.code);
  log::Line(for_websocket ? log::Level::info : log::Level::debug,
            for_websocket ? "connection refused" : "http request refused")
      .field("status", refusal.status)
      .field("code", refusal.code)
      .field("reason", refusal.message)
      .field("client_ip", client.text());
  if (loop_.config().config().auth.refuse_after_upgrade && refusal.after_upgrade_allowed &&
      !decision.upgrade_response_for_refusal.empty()) {
    state_ = State::open;
    send_control(build_raw_frame(decision.upgrade_response_for_refusal));
    close(refusal.close_code, refusal.code);
    return;
  }
  refuse_http(refusal_response(refusal));
}

// The Redis entries of a connection (cluster/cluster_node.h): the same for admission and release.
cluster::Admission Connection::cluster_admission(std::string user,
                                                 const config::IpBytes& client_ip) {
  const config::AuthConfig& auth = loop_.config().config().auth;
  cluster::Admission admission;
  admission.connection = id();
  admission.user = std::move(user);
  admission.max_per_user = auth.connection_limit.max_per_user;
  admission.cycle = auth.connection_limit.mode == config::ConnectionLimitMode::cycle;
  if (auth.max_connections_per_ip > 0) {
    admission.ip = config::ip_text(client_ip);
    admission.max_per_ip = auth.max_connections_per_ip;
  }
  return admission;
}

// Cluster mode: Redis counts the connection first under a per-user or per-IP limit, and the node
// subscribes to the user's channel (so what another node publishes to the user right after the
// welcome reaches it); then it is admitted here as on a single node. The handshake waits for
// both (within server.handshake_timeout; bytes the client sends meanwhile are kept for after
// the upgrade).
void Connection::admit_in_cluster(cluster::ClusterNode& node, UpgradeDecision decision,
                                  PeerAddress client, std::string leftover, bool for_websocket) {
  struct Waiting {
    UpgradeDecision decision;
    PeerAddress client;
    bool for_websocket;
    cluster::Admission admission;
  };
  cluster::Admission admission = cluster_admission(std::string(token_user(decision)), client.bytes);
  auto waiting = std::make_shared<Waiting>(
      Waiting{std::move(decision), client, for_websocket, std::move(admission)});
  handshake_buffer_ = std::make_unique<HandshakeBuffer>();
  handshake_buffer_->bytes = std::move(leftover);
  handshake_buffer_->admitting = true;
  hold();
  node.admit(
      loop_.index(), waiting->admission, [this, &node, waiting](cluster::AdmissionAnswer answer) {
        using Outcome = cluster::AdmissionAnswer::Outcome;
        const cluster::Admission& admission = waiting->admission;
        if (state_ != State::handshaking) {  // it went away meanwhile
          if (answer.outcome == Outcome::admitted) node.release(admission);
          node.end_admission(admission.user);
          end_connection_place();
          release_hold();
          return;
        }
        std::string leftover = std::move(handshake_buffer_->bytes);
        handshake_buffer_.reset();
        UpgradeDecision& decision = waiting->decision;
        switch (answer.outcome) {
          case Outcome::admitted: {
            if (!answer.replaced.empty()) {
              node.close_connection(loop_.index(), admission.user, answer.replaced,
                                    ws::close_code::replaced, "replaced by newer connection");
            }
            const bool user_counted = !admission.user.empty() && admission.max_per_user > 0;
            admit(decision, waiting->client, leftover, waiting->for_websocket, user_counted);
            if (!registered_) node.release(admission);  // refused here (server full)
            break;
          }
          case Outcome::undecided:  // Redis unreachable: the node's own limits
            admit(decision, waiting->client, leftover, waiting->for_websocket, false);
            break;
          case Outcome::user_full:
          case Outcome::ip_full:
            decision.accepted.reset();
            decision.refusal =
                answer.outcome == Outcome::user_full ? user_limit_refusal() : ip_limit_refusal();
            end_connection_place();
            refuse_handshake(decision, waiting->client, waiting->for_websocket);
            break;
        }
        node.end_admission(admission.user);
        release_hold();
      });
}

void Connection::accept(std::string response, AcceptedIdentity accepted,
                        std::string_view leftover) {
  const CompiledConfig& compiled = loop_.config();
  state_ = State::open;
  set_identity(std::move(accepted.identity));
  set_token_expiry(accepted.expires_at);
  if (accepted.expires_at) {
    token_deadline_ =
        token_deadline(clock(), *accepted.expires_at, compiled.config().auth.jwt.leeway);
  }
  // Its place in open_connections was reserved on admission.
  loop_.delivery().add_user_session(*this);

  send_control(build_raw_frame(response));
  send(build_event_frame("welcome", welcome_payload(*this)));
  loop_.hooks().opened(*this);
  context().metrics().connections_opened.add();
  log::info("connection opened")
      .field("conn_id", id())
      .field("user_id", user_id())
      .field("client_ip", config::ip_text(client_ip()));

  const SteadyTime now = clock().now();
  last_data_ = last_ping_sent_ = opened_at_ = now;
  reschedule(now);
  if (!leftover.empty()) {
    std::string bytes(leftover);
    bytes.reserve(bytes.size() + ws::message_padding);
    reader_.feed(bytes.data(), bytes.size(), *this);
  }
}

void Connection::begin_api(std::string_view head, std::string_view leftover) {
  std::variant<api::Request, api::ApiError> checked =
      api::check_request(head, loop_.config().config().api.key);
  if (auto* refused = std::get_if<api::ApiError>(&checked)) {
    log::debug("api request refused")
        .field("status", refused->status)
        .field("code", refused->code)
        .field("conn", number());
    context().metrics().count_api_request("none", refused->status);
    refuse_http(api::error_response(*refused));
    return;
  }
  HandshakeBuffer& handshake = *handshake_buffer_;
  handshake.api = std::move(std::get<api::Request>(checked));
  handshake.bytes.assign(leftover);
  handshake.bytes.reserve(handshake.api->body_length);
  if (handshake.bytes.size() >= handshake.api->body_length) serve_api();
}

void Connection::serve_api() {
  HandshakeBuffer& handshake = *handshake_buffer_;
  handshake.answering = true;
  handshake.bytes.resize(handshake.api->body_length);  // bytes after the body are not read
  end_handshake();
  state_deadline_ = clock().now() + api_answer_limit;
  reschedule(clock().now());
  const api::Request request = std::move(*handshake.api);
  const std::string body = std::move(handshake.bytes);
  hold();
  serve_api_request(loop_, request, body, [this, route = request.route](std::string response) {
    // The status is the number after "HTTP/1.1 " in the response api/ built.
    const int status = response.size() > 12 ? std::atoi(response.c_str() + 9) : 0;
    context().metrics().count_api_request(api::route_name(route), status);
    if (state_ == State::handshaking) refuse_http(std::move(response));
    release_hold();
  });
}

void Connection::end_handshake() {
  if (!handshake_peer_) return;
  Engine& engine = loop_.engine();
  engine.peers().end_handshake(handshake_peer_);
  handshake_peer_ = nullptr;
  engine.handshaking().fetch_sub(1);
}

bool Connection::take_connection_place(const PeerAddress& address, uint32_t limit) {
  connection_peer_ = loop_.engine().peers().try_begin_connection(address, limit);
  return connection_peer_ != nullptr;
}

void Connection::end_connection_place() {
  if (!connection_peer_) return;
  loop_.engine().peers().end_connection(connection_peer_);
  connection_peer_ = nullptr;
}

void Connection::serve_static_file(StaticFile file) {
  if (!file.file) {  // HEAD, 400 or 404: the head is the whole answer
    end_handshake();
    refuse_http(std::move(file.head));
    return;
  }
  StaticDownloads& downloads = loop_.downloads();
  if (!downloads.reserve(handshake_peer_)) {
    end_handshake();
    UpgradeRefusal busy{503, "too_many_downloads",
                        "too many static files are being sent right now: try again shortly", false,
                        0};
    refuse_http(refusal_response(busy));
    return;
  }
  PeerEntry* peer = handshake_peer_;  // the download holds a place of its own on the entry
  end_handshake();
  loop_.poller().remove(fd_);
  const int socket = fd_;
  fd_ = -1;
  abort();  // this object is done with; the socket lives on in the download
  downloads.start(socket, std::move(file), peer);
}

void Connection::refuse_http(std::string response) {
  end_handshake();
  handshake_buffer_.reset();
  state_ = State::closing;
  close_after_flush_ = true;
  send_control(build_raw_frame(response));
  state_deadline_ = clock().now() + close_handshake_limit;
  reschedule(clock().now());
}

// ---------------------------------------------------------------- frames from the client

bool Connection::on_message(ws::MessageKind kind, char* data, size_t length) {
  if (state_ != State::open) return true;
  count_message_in();
  metrics::LoopMetrics& counters = context().metrics();
  counters.messages_in.add();
  counters.bytes_in.add(length);
  last_data_ = last_received_;
  if (pending()) return router::queue_while_pending(*this, data, length, max_queued_messages);
  router::handle_message(loop_, *this, kind, data, length);
  return true;
}

void Connection::on_ping(std::string_view payload) {
  if (state_ != State::open) return;
  // Our pong does what our own ping would: traffic towards the client, and an answer that
  // shows we are alive. A client that pings at least every ping_interval is not pinged.
  last_ping_sent_ = last_received_;
  pending_pong_ = build_control_frame(0xA, payload);
  want_flush();
}

void Connection::on_pong(std::string_view) {}

void Connection::on_close(uint16_t code, std::string_view reason) {
  if (state_ == State::open) {
    // The client starts the handshake: answer with its code, then close once it is written.
    state_ = State::closing;
    unregister(metrics::ClosedBy::client, code, reason);
    close_frame_ = build_close_frame(code == 1005 ? ws::close_code::normal : code, {});
    close_after_flush_ = true;
    state_deadline_ = clock().now() + close_handshake_limit;
    reschedule(clock().now());
    want_flush();
  } else if (state_ == State::closing) {
    // The client answered our close frame.
    if (queue_.empty() && !close_frame_) {
      abort();
    } else {
      close_after_flush_ = true;
    }
  }
}

void Connection::on_protocol_error(uint16_t close_code, std::string_view reason) {
  log::debug("protocol error")
      .field("conn_id", id())
      .field("close_code", unsigned{close_code})
      .field("reason", reason);
  close(close_code, reason);
}

// ---------------------------------------------------------------- sending

void Connection::want_flush() {
  if (flush_requested_) return;
  flush_requested_ = true;
  loop_.add_to_flush_list(*this);
}

void Connection::request_flush() {
  loop_.add_to_flush_list(*this);
}

void Connection::flush_now() {
  if (!write_blocked_) flush();
}

void Connection::send_control(FrameRef frame) {
  queue_control(std::move(frame));
  want_flush();
}

void Connection::close(uint16_t code, std::string_view reason) {
  if (state_ == State::closing || state_ == State::closed) return;
  if (state_ == State::handshaking) {
    abort();
    return;
  }
  state_ = State::closing;
  unregister(metrics::ClosedBy::server, code, reason);
  close_frame_ = build_close_frame(code, reason);
  state_deadline_ = clock().now() + close_handshake_limit;
  reschedule(clock().now());
  want_flush();
}

void Connection::flush() {
  if (state_ == State::closed || write_blocked_) return;
  const uint64_t queue_limit = loop_.config().config().server.send_queue_limit;
  // A pong waits while much is queued: a client that floods pings but never reads gets one
  // pending pong, not a growing queue of them.
  if (pending_pong_ && queue_.bytes() < queue_limit) queue_control(std::move(pending_pong_));
  if (close_frame_) {
    queue_control(std::move(close_frame_));
    close_queued_ = true;
  }

  iovec vectors[64];
  while (!queue_.empty()) {
    int count = queue_.gather(vectors, 64);
    size_t requested = 0;
    for (int i = 0; i < count; ++i) requested += vectors[i].iov_len;
    msghdr message{};
    message.msg_iov = vectors;
    message.msg_iovlen = static_cast<size_t>(count);
    ssize_t written = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        write_blocked_ = true;  // the poller says when the socket drains
      } else {
        abort();
      }
      return;
    }
    queue_.consume(static_cast<size_t>(written));
    context().account_queued(-written);
    if (static_cast<size_t>(written) < requested) {
      write_blocked_ = true;
      return;
    }
  }
  if (queue_.frame_count() == 0) queue_.release_memory();
  if ((close_queued_ || close_after_flush_) && !half_closed_) {
    // Our close frame is out: send FIN at once, so a client that waits for the server to close
    // TCP first (RFC 6455 section 7.1.1) is not kept waiting; keep reading for its close frame
    // or EOF, bounded by the close deadline.
    half_closed_ = true;
    ::shutdown(fd_, SHUT_WR);
  }
  if (close_after_flush_) abort();
}

// ---------------------------------------------------------------- timers

void Connection::reschedule(SteadyTime now) {
  const auto& server = loop_.config().config().server;
  SteadyTime next = now + std::chrono::hours(24);
  switch (state_) {
    case State::handshaking:
      next = state_deadline_;
      break;
    case State::closing:
      next = state_deadline_;
      break;
    case State::closed:
      TimerWheel::cancel(*this);
      return;
    case State::open:
      next = std::min(next, token_deadline_);
      if (server.read_timeout.count() > 0) next = std::min(next, last_data_ + server.read_timeout);
      next = std::min(next, last_received_ + server.ping_interval + server.pong_timeout);
      next = std::min(next, last_ping_sent_ + server.ping_interval);
      if (pending() && pending()->in_flight) next = std::min(next, pending()->deadline);
      break;
  }
  loop_.wheel().schedule(*this, next);
}

void Connection::token_expiry_changed() {
  const std::optional<int64_t> expires_at = token_expires_at();
  token_deadline_ =
      expires_at ? token_deadline(clock(), *expires_at, loop_.config().config().auth.jwt.leeway)
                 : SteadyTime::max();
  reschedule(clock().now());
}

void Connection::on_timer(SteadyTime now) {
  const auto& server = loop_.config().config().server;
  switch (state_) {
    case State::handshaking:
      if (now >= state_deadline_) {
        log::debug("handshake timeout").field("conn", number());
        abort();
        return;
      }
      break;
    case State::closing:
      if (now >= state_deadline_) {
        abort();
        return;
      }
      break;
    case State::closed:
      return;
    case State::open:
      if (pending() && pending()->in_flight && now >= pending()->deadline) {
        router::time_out_pending(loop_, *this);
        if (state_ != State::open) return;
      }
      if (now >= token_deadline_) {
        close(ws::close_code::token_refused, "token expired");
        return;
      }
      if (server.read_timeout.count() > 0 && now - last_data_ >= server.read_timeout) {
        close(ws::close_code::timeout, "timeout");
        return;
      }
      if (now - last_received_ >= server.ping_interval + server.pong_timeout) {
        close(ws::close_code::timeout, "timeout");
        return;
      }
      if (now - last_ping_sent_ >= server.ping_interval) {
        send_control(ping_frame());
        last_ping_sent_ = now;
      }
      break;
  }
  reschedule(now);
}

// ---------------------------------------------------------------- errors and lifetime

void Connection::watch_step_deadline() {
  if (state_ == State::open) reschedule(clock().now());
}

void Connection::release_hold() {
  --holds_;
  maybe_destroy();
}

void Connection::continue_after_pending() {
  router::run_queued(loop_, *this);
  if (pending() || state_ == State::closed) return;
  if (reader_.paused()) {
    reader_.resume(*this);
    if (state_ != State::closed && !reader_.paused()) read_later();
  }
}

void Connection::unregister(metrics::ClosedBy by, uint16_t code, std::string_view reason) {
  if (!registered_) return;
  registered_ = false;
  if (state_ != State::handshaking) {
    context().metrics().count_closed(by, code);
  }
  if (state_ != State::handshaking && log::enabled(log::Level::info)) {
    const auto lasted =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock().now() - opened_at_);
    log::info("connection closed")
        .field("conn_id", id())
        .field("user_id", user_id())
        .field("client_ip", config::ip_text(client_ip()))
        .field("by", metrics::closed_by_name(by))
        .field("code", unsigned{code})
        .field("reason", reason)
        .field("duration_ms", static_cast<int64_t>(lasted.count()))
        .field("messages_in", messages_in())
        .field("messages_out", messages_out());
  }
  Engine& engine = loop_.engine();
  if (state_ != State::handshaking) loop_.hooks().closing(*this);  // before it leaves its rooms
  loop_.delivery().rooms().leave_all(*this);
  if (state_ != State::handshaking) {
    loop_.delivery().remove_user_session(*this);
    engine.open_connections().fetch_sub(1);
  }
  end_connection_place();
  engine.directory().remove_connection(user_id(), number());
  if (cluster::ClusterNode* node = engine.cluster(); node && state_ != State::handshaking) {
    node->release(cluster_admission(user_id(), client_ip()));  // nothing without limits
  }
}

void Connection::abort() {
  if (state_ == State::closed) return;
  // Still registered: the socket failed or the client left without a close frame.
  unregister(metrics::ClosedBy::network, ws::close_code::abnormal, "connection lost");
  state_ = State::closed;
  TimerWheel::cancel(*this);
  drop_queue();
  pending_pong_ = FrameRef();
  close_frame_ = FrameRef();
  end_handshake();
  if (fd_ >= 0) ::close(fd_);  // also leaves the poller
  fd_ = -1;
  // Freed in a handler of its own, never in the middle of a call chain that still uses it.
  hold();
  boost::asio::post(loop_.io(), [this] { release_hold(); });
}

void Connection::maybe_destroy() {
  if (state_ == State::closed && !flush_requested_ && holds_ == 0) {
    loop_.destroy(this);
  }
}

}  // namespace dispatch
