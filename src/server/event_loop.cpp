#include "server/event_loop.h"

#include <boost/asio/post.hpp>

#include <algorithm>

#include "log/log.h"
#include "protocol/websocket.h"
#include "pipeline/compiled_config.h"
#include "server/engine.h"
#include "server/connection.h"

namespace dispatch {

namespace {
const ConnectionList no_connections;
}

EventLoop::EventLoop(Engine& engine, unsigned index, std::shared_ptr<const CompiledConfig> config)
    : engine_(engine),
      index_(index),
      config_(std::move(config)),
      event_message_counts_(config_->event_count(), 0),
      rooms_(engine.directory(), index),
      outbox_(Directory::max_loops),
      read_buffer_(new char[read_buffer_size + ws::message_padding]),
      wheel_(std::chrono::steady_clock::now()),
      tick_timer_(io_),
      mailbox_(std::make_shared<LoopMailbox>(io_)) {}

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
    wheel_.advance(std::chrono::steady_clock::now());
    arm_tick();
  });
}

// ---------------------------------------------------------------- connections

void EventLoop::add_connection(int fd, PeerEntry* peer) {
  auto* connection = new Connection(*this, fd, engine_.next_connection_number(), peer);
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

void EventLoop::add_pending_step(uint64_t ticket, Connection& connection) {
  pending_steps_.emplace(ticket, &connection);
}

Connection* EventLoop::pending_step_connection(uint64_t ticket) const {
  auto found = pending_steps_.find(ticket);
  return found == pending_steps_.end() ? nullptr : found->second;
}

const ConnectionList& EventLoop::user_connections(std::string_view user) const {
  auto found = users_.find(user);
  return found == users_.end() ? no_connections : found->second;
}

void EventLoop::add_user_connection(Connection& connection) {
  auto found = users_.find(connection.user_id());
  if (found == users_.end()) {
    found = users_.try_emplace(connection.user_id()).first;
  }
  found->second.push_back(&connection);
}

void EventLoop::remove_user_connection(Connection& connection) {
  auto found = users_.find(connection.user_id());
  if (found == users_.end()) return;
  auto& list = found->second;
  list.erase(std::remove(list.begin(), list.end(), &connection), list.end());
  if (found->second.empty()) users_.erase(found);
}

void EventLoop::close_all(uint16_t code, std::string_view reason) {
  closing_all_ = true;
  for (Connection& connection : connections_) connection.close(code, reason);
  downloads_.close_all();
}

// ---------------------------------------------------------------- local delivery

void EventLoop::deliver_to_room(std::string_view room, const FrameRef& frame) {
  rooms_.for_each_member(room, [&](Connection& member) { member.send(frame); });
}

void EventLoop::deliver_to_user(std::string_view user, const FrameRef& frame) {
  auto found = users_.find(user);
  if (found == users_.end()) return;
  ConnectionList targets = found->second;
  for (Connection* connection : targets) connection->send(frame);
}

void EventLoop::deliver_to_all(const FrameRef& frame) {
  for (Connection& connection : connections_) connection.send(frame);
}

// ---------------------------------------------------------------- cross-loop work

void EventLoop::post_task(unsigned loop, LoopTask task) {
  if (loop == index_) {
    run_task(task);
    return;
  }
  outbox_[loop].push_back(std::move(task));
  schedule_turn_end();
}

void EventLoop::post_from_outside(LoopTask task) {
  boost::asio::post(io_, [this, task = std::move(task)]() mutable { run_task(task); });
}

void EventLoop::run_task(LoopTask& task) {
  switch (task.kind) {
    case LoopTask::Kind::deliver_room:
      deliver_to_room(task.key, task.frame);
      break;
    case LoopTask::Kind::deliver_user:
      deliver_to_user(task.key, task.frame);
      break;
    case LoopTask::Kind::deliver_all:
      deliver_to_all(task.frame);
      break;
    case LoopTask::Kind::join_user: {
      ConnectionList targets = user_connections(task.key);
      for (Connection* connection : targets) {
        if (connection->is_open()) {
          rooms_.join(*connection, task.room, config_->config().server.max_rooms_per_connection);
        }
      }
      engine_.directory().add_room_refs(task.room, index_, -1);  // the join is no longer in flight
      break;
    }
    case LoopTask::Kind::leave_user: {
      ConnectionList targets = user_connections(task.key);
      for (Connection* connection : targets) rooms_.leave(*connection, task.room);
      break;
    }
    case LoopTask::Kind::close_connection: {
      ConnectionList targets = user_connections(task.key);
      for (Connection* connection : targets) {
        if (connection->number() == task.connection) connection->close(task.code, task.reason);
      }
      break;
    }
    case LoopTask::Kind::install_config:
      config_ = std::move(task.config);
      event_message_counts_.assign(config_->event_count(), 0);
      break;
    case LoopTask::Kind::close_all:
      close_all(task.code, task.reason);
      break;
  }
}

// ---------------------------------------------------------------- end of turn

void EventLoop::account_queued(int64_t delta) {
  constexpr int64_t publish_step = 256 * 1024;
  queued_unpublished_ += delta;
  if (queued_unpublished_ > publish_step || queued_unpublished_ < -publish_step) publish_queued();
}

void EventLoop::publish_queued() {
  if (queued_unpublished_ == 0) return;
  engine_.queued_bytes().fetch_add(queued_unpublished_, std::memory_order_relaxed);
  queued_unpublished_ = 0;
}

bool EventLoop::over_process_queue_cap(size_t adding) const {
  const int64_t queued =
      engine_.queued_bytes().load(std::memory_order_relaxed) + queued_unpublished_;
  return queued + static_cast<int64_t>(adding) > static_cast<int64_t>(engine_.queued_bytes_cap());
}

void EventLoop::want_flush(Connection& connection) {
  if (connection.flush_scheduled_) return;
  connection.flush_scheduled_ = true;
  flush_list_.push_back(&connection);
  schedule_turn_end();
}

void EventLoop::schedule_turn_end() {
  if (turn_end_scheduled_) return;
  turn_end_scheduled_ = true;
  boost::asio::post(io_, [this] { turn_end(); });
}

// Runs after the handlers that were ready in this turn: what they produced for other loops goes
// out as one post per loop, and what they queued for each connection as one writev.
void EventLoop::turn_end() {
  turn_end_scheduled_ = false;
  for (unsigned loop = 0; loop < engine_.loop_count(); ++loop) {
    if (outbox_[loop].empty()) continue;
    EventLoop& target = engine_.loop(loop);
    boost::asio::post(target.io_, [&target, batch = std::move(outbox_[loop])]() mutable {
      for (LoopTask& task : batch) target.run_task(task);
    });
    outbox_[loop].clear();
  }
  std::vector<Connection*> to_flush;
  to_flush.swap(flush_list_);
  for (Connection* connection : to_flush) {
    connection->flush_scheduled_ = false;
    connection->flush();
  }
  for (Connection* connection : to_flush) {
    if (!connection->flush_scheduled_) connection->maybe_destroy();
  }
  publish_queued();
  if (flush_list_.empty()) {  // keep the larger buffer for the next turn
    to_flush.clear();
    flush_list_.swap(to_flush);
  }
}

}  // namespace dispatch
