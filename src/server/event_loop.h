// One event loop: an Asio io_context on its own thread that owns its connections for life
// (DESIGN.md: shared nothing). Its sockets live in its ReadinessPoller, one epoll set that is
// a single descriptor in the io_context; timers and cross-loop posts go through Asio. It keeps the
// loop's clock and session settings (SessionContext), its delivery tables (LoopDelivery: rooms,
// users, tasks for other loops), the timer wheel, one read buffer and one JSON parser for all its
// connections, and the end-of-turn work: tasks for other loops are batched into one post per loop
// per turn, and the frames queued for each connection during the turn go out in one writev. To the
// pipeline it is a SessionLoop.
#pragma once

#include <simdjson.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "delivery/directory.h"
#include "delivery/loop_delivery.h"
#include "frames/out_frame.h"
#include "pipeline/hook_runner.h"
#include "pipeline/loop_mailbox.h"
#include "pipeline/session_loop.h"
#include "server/connection.h"
#include "server/static_download.h"
#include "session/session_context.h"
#include "transport/readiness_poller.h"
#include "transport/timer_wheel.h"

namespace dispatch {

class Engine;
class Connection;
class CompiledConfig;
struct PeerEntry;

class EventLoop final : public SessionLoop {
 public:
  EventLoop(Engine& engine, unsigned index, std::shared_ptr<const CompiledConfig> config);
  ~EventLoop();

  unsigned index() const { return index_; }
  Engine& engine() { return engine_; }
  boost::asio::io_context& io() { return io_; }
  ReadinessPoller& poller() { return poller_; }

  void start_thread();
  void join_thread();

  const CompiledConfig& config() const override { return *config_; }
  const std::shared_ptr<const CompiledConfig>& config_ptr() const override { return config_; }
  // Installs a reloaded config (on this loop's thread).
  void install_config(std::shared_ptr<const CompiledConfig> config);
  // Runs `work` on this loop's thread; callable from any thread.
  template <typename Work>
  void post(Work work) {
    boost::asio::post(io_, std::move(work));
  }

  // --- per-event message counts: how many messages of each event of the current config ran
  // on this loop since that config was installed (indexed by Pipeline::index; loop-local, a
  // plain increment). A reload reads them to tell which events are in use.
  void count_event_message(size_t pipeline_index) override {
    ++event_message_counts_[pipeline_index];
  }
  const std::vector<uint64_t>& event_message_counts() const { return event_message_counts_; }

  // --- connections (on this loop's thread)
  // Takes a freshly accepted non-blocking socket descriptor (owned from here on) and its
  // handshake's place in the engine's peer table.
  void add_connection(int fd, PeerEntry* peer, Listener listener = Listener::main);
  void destroy(Connection* connection);
  size_t connection_count() const { return connection_count_; }
  // Closes every connection with this code (shutdown) and reports when none is left.
  void close_all(uint16_t code, std::string_view reason);

  // --- steps that finish later (SessionLoop)
  const std::shared_ptr<LoopMailbox>& mailbox() const override { return mailbox_; }
  boost::asio::any_io_executor executor() override { return io_.get_executor(); }
  void add_pending_step(uint64_t ticket, Session& session) override;
  void remove_pending_step(uint64_t ticket) override { pending_steps_.erase(ticket); }
  Session* pending_step_session(uint64_t ticket) const override;

  // --- rooms, users and fan-out to other loops
  LoopDelivery& delivery() override { return delivery_; }
  // The lifecycle hooks (`hooks:`): a session tells them when it opens and closes.
  HookRunner& hooks() { return hooks_; }
  // What this loop's sessions share: clock, settings in force, queued-bytes count.
  SessionContext& sessions() { return sessions_; }
  const Clock& clock() const override { return sessions_.clock(); }

  // --- end of turn: writes what the connection queued (once per turn)
  void add_to_flush_list(Connection& connection);

  // --- shared per-loop resources
  char* read_buffer() { return read_buffer_.get(); }
  static constexpr size_t read_buffer_size = 64 * 1024;
  simdjson::dom::parser& json_parser() override { return json_parser_; }
  std::string& scratch() { return scratch_; }
  TimerWheel& wheel() { return wheel_; }
  StaticDownloads& downloads() { return downloads_; }

 private:
  void schedule_turn_end();
  void turn_end();
  // Posts tasks to a loop (this one too), to run there in order.
  void send_batch(unsigned loop, std::vector<DeliveryTask> batch);
  void arm_tick();

  Engine& engine_;
  unsigned index_;
  SteadyTime last_history_sweep_{};
  // With several loops, not the single-thread hint (1): with it Asio keeps what a loop posts to
  // itself in a private queue until the running handler returns, so another loop's post made
  // meanwhile would run first, and a history room's messages rely on one FIFO per loop for every
  // poster, itself included (delivery/room_history.h). A lone loop keeps the hint: nobody else
  // posts to it, and its own posts take no lock.
  boost::asio::io_context io_;
  ReadinessPoller poller_{io_};
  std::thread thread_;
  std::shared_ptr<const CompiledConfig> config_;
  std::vector<uint64_t> event_message_counts_;  // one per event of config_
  SessionContext sessions_;
  LoopDelivery delivery_;
  HookRunner hooks_{*this, sessions_};

  boost::intrusive::list<Connection, boost::intrusive::base_hook<ConnectionListHook>,
                         boost::intrusive::constant_time_size<false>>
      connections_;
  size_t connection_count_ = 0;

  std::vector<Connection*> flush_list_;
  bool turn_end_scheduled_ = false;

  std::unique_ptr<char[]> read_buffer_;
  simdjson::dom::parser json_parser_;
  std::string scratch_;
  TimerWheel wheel_;
  boost::asio::steady_timer tick_timer_;
  bool closing_all_ = false;
  std::shared_ptr<LoopMailbox> mailbox_;
  std::unordered_map<uint64_t, Session*> pending_steps_;  // empty unless a step is pending
  StaticDownloads downloads_{*this};                      // after the wheel and poller they use
};

}  // namespace dispatch
