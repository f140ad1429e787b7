// One event loop: an Asio io_context on its own thread that owns its connections for life
// (DESIGN.md: shared nothing). Its sockets live in its ReadinessPoller, one epoll set that is
// a single descriptor in the io_context; timers and cross-loop posts go through Asio. It keeps the
// loop-local tables (room → members, user → connections), the timer wheel, one read buffer and one
// JSON parser for all its connections, and the end-of-turn work: tasks for other loops are batched
// into one post per loop per turn, and the frames queued for each connection during the turn go out
// in one writev.
#pragma once

#include <simdjson.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "frames/out_frame.h"
#include "delivery/directory.h"
#include "delivery/local_rooms.h"
#include "server/loop_mailbox.h"
#include "server/loop_task.h"
#include "session/session_lists.h"
#include "transport/readiness_poller.h"
#include "server/static_download.h"
#include "transport/timer_wheel.h"

namespace dispatch {

class Engine;
class Connection;
class CompiledConfig;
struct PeerEntry;

class EventLoop {
 public:
  EventLoop(Engine& engine, unsigned index, std::shared_ptr<const CompiledConfig> config);
  ~EventLoop();

  unsigned index() const { return index_; }
  Engine& engine() { return engine_; }
  boost::asio::io_context& io() { return io_; }
  ReadinessPoller& poller() { return poller_; }

  void start_thread();
  void join_thread();

  const CompiledConfig& config() const { return *config_; }
  const std::shared_ptr<const CompiledConfig>& config_ptr() const { return config_; }

  // --- per-event message counts: how many messages of each event of the current config ran
  // on this loop since that config was installed (indexed by Pipeline::index; loop-local, a
  // plain increment). A reload reads them to tell which events are in use.
  void count_event_message(size_t pipeline_index) { ++event_message_counts_[pipeline_index]; }
  const std::vector<uint64_t>& event_message_counts() const { return event_message_counts_; }

  // --- connections (on this loop's thread)
  // Takes a freshly accepted non-blocking socket descriptor (owned from here on) and its
  // handshake's place in the engine's peer table.
  void add_connection(int fd, PeerEntry* peer);
  void destroy(Connection* connection);
  size_t connection_count() const { return connection_count_; }
  // Closes every connection with this code (shutdown) and reports when none is left.
  void close_all(uint16_t code, std::string_view reason);

  // --- steps that finish later (pipeline/message_run.cpp). A Completion reaches its connection
  // only through this table of in-flight tickets, never through a pointer of its own: once the
  // connection is gone (or the step timed out) the ticket is absent and the completion a no-op.
  const std::shared_ptr<LoopMailbox>& mailbox() const { return mailbox_; }
  void add_pending_step(uint64_t ticket, Connection& connection);
  void remove_pending_step(uint64_t ticket) { pending_steps_.erase(ticket); }
  Connection* pending_step_connection(uint64_t ticket) const;

  LocalRooms& rooms() { return rooms_; }
  // This loop's open connections of a user (empty vector if none).
  const ConnectionList& user_connections(std::string_view user) const;
  void add_user_connection(Connection& connection);
  void remove_user_connection(Connection& connection);

  // --- local delivery (this loop's connections only)
  void deliver_to_room(std::string_view room, const FrameRef& frame);
  void deliver_to_user(std::string_view user, const FrameRef& frame);
  void deliver_to_all(const FrameRef& frame);

  // --- cross-loop work: batched and posted at the end of this turn (FIFO per target loop)
  void post_task(unsigned loop, LoopTask task);
  // From any thread: runs the task on this loop (used outside loop threads, e.g. signals).
  void post_from_outside(LoopTask task);

  // --- end of turn
  void want_flush(Connection& connection);

  // --- bytes queued on this loop's connections, toward the engine's process-wide cap. Published
  // to the engine's atomic count in steps (at the end of each turn, or at once past a step), not
  // with two atomic operations per frame.
  void account_queued(int64_t delta);
  bool over_process_queue_cap(size_t adding) const;

  // --- shared per-loop resources
  char* read_buffer() { return read_buffer_.get(); }
  static constexpr size_t read_buffer_size = 64 * 1024;
  simdjson::dom::parser& json_parser() { return json_parser_; }
  std::string& scratch() { return scratch_; }
  TimerWheel& wheel() { return wheel_; }
  StaticDownloads& downloads() { return downloads_; }

 private:
  void run_task(LoopTask& task);
  void schedule_turn_end();
  void turn_end();
  void arm_tick();
  void publish_queued();

  Engine& engine_;
  unsigned index_;
  boost::asio::io_context io_{1};
  ReadinessPoller poller_{io_};
  std::thread thread_;
  std::shared_ptr<const CompiledConfig> config_;
  std::vector<uint64_t> event_message_counts_;  // one per event of config_

  boost::intrusive::list<Connection, boost::intrusive::base_hook<ConnectionListHook>,
                         boost::intrusive::constant_time_size<false>>
      connections_;
  size_t connection_count_ = 0;
  LocalRooms rooms_;
  std::unordered_map<std::string, ConnectionList, StringHash, std::equal_to<>> users_;

  std::vector<std::vector<LoopTask>> outbox_;  // per target loop
  std::vector<Connection*> flush_list_;
  bool turn_end_scheduled_ = false;
  int64_t queued_unpublished_ = 0;

  std::unique_ptr<char[]> read_buffer_;
  simdjson::dom::parser json_parser_;
  std::string scratch_;
  TimerWheel wheel_;
  boost::asio::steady_timer tick_timer_;
  bool closing_all_ = false;
  std::shared_ptr<LoopMailbox> mailbox_;
  std::unordered_map<uint64_t, Connection*> pending_steps_;  // empty unless a step is pending
  StaticDownloads downloads_{*this};  // after the wheel and poller they use
};

}  // namespace dispatch
