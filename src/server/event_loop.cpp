#include "server/event_loop.h"

#include <boost/asio/post.hpp>

#include <algorithm>

#include "log/log.h"
#include "pipeline/compiled_config.h"
#include "protocol/websocket.h"
#include "server/connection.h"
#include "server/engine.h"

namespace dispatch {
namespace {

std::vector<std::string> event_names(const CompiledConfig& config) {
  std::vector<std::string> names;
  for (const config::EventSpec& event : config.config().events) names.push_back(event.name);
  return names;
}

}  // namespace

EventLoop::EventLoop(Engine& engine, unsigned index, std::shared_ptr<const CompiledConfig> config)
    : engine_(engine),
      index_(index),
      io_(engine.directory().loop_count() > 1 ? BOOST_ASIO_CONCURRENCY_HINT_SAFE : 1),
      config_(std::move(config)),
      event_message_counts_(config_->event_count(), 0),
      sessions_(engine.node_id(), engine.queued_bytes(), engine.queued_bytes_cap()),
      delivery_(engine.directory(), engine.history(), index, sessions_,
                [this] { schedule_turn_end(); }),
      read_buffer_(new char[read_buffer_size + ws::message_padding]),
      wheel_(sessions_.clock().now()),
      tick_timer_(io_),
      mailbox_(std::make_shared<LoopMailbox>(io_)) {
  sessions_.set_server(config_->config().server);
  sessions_.metrics().events.install(event_names(*config_));
  hooks_.install(*config_);
  delivery_.set_batch_sender([this](unsigned loop, std::vector<DeliveryTask> batch) {
    send_batch(loop, std::move(batch));
  });
}

EventLoop::~EventLoop() {
  mailbox_->close();  // late completions from other threads become no-ops from here on
  while (!connections_.empty()) {
    Connection& connection = connections_.front();
    connection.unlink();
    delete &connection;
  }
}

void EventLoop::start_thread() {
  arm_tick();
  poller_.start();
  thread_ = std::thread([this] {
    auto guard = boost::asio::make_work_guard(io_);
    io_.run();
  });
}

void EventLoop::join_thread() {
  if (thread_.joinable()) thread_.join();
}

void EventLoop::arm_tick() {
  tick_timer_.expires_after(TimerWheel::resolution);
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    const SteadyTime now = sessions_.clock().now();
    wheel_.advance(now);
    if (index_ == 0 && now - last_history_sweep_ >= std::chrono::seconds(1)) {
      last_history_sweep_ = now;  // each of the history's 64 shards about once a minute
      engine_.history().sweep_one_shard(now);
    }
    arm_tick();
  });
}

// ---------------------------------------------------------------- connections

void EventLoop::add_connection(int fd, PeerEntry* peer, Listener listener) {
  auto* connection = new Connection(*this, fd, engine_.next_connection_number(), peer, listener);
  connections_.push_back(*connection);
  ++connection_count_;
  engine_.live_connections().fetch_add(1);
  if (closing_all_) {
    connection->close(ws::close_code::going_away, "going away");
    return;
  }
  connection->start();
}

void EventLoop::destroy(Connection* connection) {
  connection->unlink();
  --connection_count_;
  engine_.live_connections().fetch_sub(1);
  delete connection;
}

void EventLoop::add_pending_step(uint64_t ticket, Session& session) {
  pending_steps_.emplace(ticket, &session);
}

Session* EventLoop::pending_step_session(uint64_t ticket) const {
  auto found = pending_steps_.find(ticket);
  return found == pending_steps_.end() ? nullptr : found->second;
}

void EventLoop::install_config(std::shared_ptr<const CompiledConfig> config) {
  config_ = std::move(config);
  sessions_.set_server(config_->config().server);
  sessions_.metrics().events.install(event_names(*config_));
  event_message_counts_.assign(config_->event_count(), 0);
  hooks_.install(*config_);
}

void EventLoop::close_all(uint16_t code, std::string_view reason) {
  closing_all_ = true;
  for (Connection& connection : connections_) connection.close(code, reason);
  downloads_.close_all();
}

// ---------------------------------------------------------------- end of turn

void EventLoop::add_to_flush_list(Connection& connection) {
  flush_list_.push_back(&connection);
  schedule_turn_end();
}

void EventLoop::schedule_turn_end() {
  if (turn_end_scheduled_) return;
  turn_end_scheduled_ = true;
  boost::asio::post(io_, [this] { turn_end(); });
}

void EventLoop::send_batch(unsigned loop, std::vector<DeliveryTask> batch) {
  EventLoop& target = engine_.loop(loop);
  boost::asio::post(target.io_, [&target, batch = std::move(batch)]() mutable {
    for (DeliveryTask& task : batch) target.delivery_.run(task);
  });
}

// Runs after the handlers that were ready in this turn: what they produced for other loops goes
// out as one post per loop, and what they queued for each connection as one writev.
void EventLoop::turn_end() {
  turn_end_scheduled_ = false;
  auto& outbox = delivery_.outbox();
  for (unsigned loop = 0; loop < engine_.loop_count(); ++loop) {
    if (outbox[loop].empty()) continue;
    send_batch(loop, std::move(outbox[loop]));
    outbox[loop].clear();
  }
  std::vector<Connection*> to_flush;
  to_flush.swap(flush_list_);
  for (Connection* connection : to_flush) {
    connection->flush_requested_ = false;
    connection->flush();
  }
  for (Connection* connection : to_flush) {
    if (!connection->flush_requested_) connection->maybe_destroy();
  }
  sessions_.publish_queued();
  if (flush_list_.empty()) {  // keep the larger buffer for the next turn
    to_flush.clear();
    flush_list_.swap(to_flush);
  }
}

}  // namespace dispatch
