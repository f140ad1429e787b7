// What the sessions of one event loop share: the node id, the loop's clock, the server settings
// in force (replaced when a reload is installed), and the count of bytes queued on this loop,
// published to the process-wide count in steps of 256 KiB so that no send touches a shared
// atomic, and the loop's counters for /metrics. One per loop, owned by it; single-threaded.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "clock/clock.h"
#include "config/config.h"
#include "metrics/loop_metrics.h"

namespace dispatch {

class SessionContext {
 public:
  // `process_queued` is the engine's count of bytes queued in the whole process, `process_cap`
  // its bound (beyond it every session pays its slow-consumer policy).
  SessionContext(const std::string& node_id, std::atomic<int64_t>& process_queued,
                 uint64_t process_cap, Clock clock = Clock::system())
      : node_id_(node_id),
        process_queued_(process_queued),
        process_cap_(process_cap),
        clock_(clock) {}

  const std::string& node_id() const { return node_id_; }
  // The loop's counters for /metrics (written only on the loop's thread).
  metrics::LoopMetrics& metrics() { return metrics_; }
  const metrics::LoopMetrics& metrics() const { return metrics_; }
  const Clock& clock() const { return clock_; }
  Clock& clock() { return clock_; }

  // The server settings sessions read (queue limit, slow-consumer policy, error budget, room
  // limit); set before the first session and again when a reload is installed.
  const config::ServerConfig& server() const { return *server_; }
  void set_server(const config::ServerConfig& server) { server_ = &server; }

  void account_queued(int64_t delta) {
    queued_unpublished_ += delta;
    if (queued_unpublished_ > publish_step || queued_unpublished_ < -publish_step) {
      publish_queued();
    }
  }
  void publish_queued() {
    if (queued_unpublished_ == 0) return;
    process_queued_.fetch_add(queued_unpublished_, std::memory_order_relaxed);
    queued_unpublished_ = 0;
  }
  bool over_process_queue_cap(size_t adding) const {
    const int64_t queued = process_queued_.load(std::memory_order_relaxed) + queued_unpublished_;
    return queued + static_cast<int64_t>(adding) > static_cast<int64_t>(process_cap_);
  }

 private:
  static constexpr int64_t publish_step = 256 * 1024;

  const std::string& node_id_;
  std::atomic<int64_t>& process_queued_;
  uint64_t process_cap_;
  Clock clock_;
  const config::ServerConfig* server_ = nullptr;
  int64_t queued_unpublished_ = 0;
  metrics::LoopMetrics metrics_;
};

}  // namespace dispatch
