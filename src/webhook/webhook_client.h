// The HTTP/1.1 client of one webhook target (`webhooks.<name>`), on the event loops (Beast).
//
// `_webhook` calls enqueue() and is done at once: the delivery waits in the target's bounded
// queue, and a worker takes it from there. Nothing here blocks a loop: connecting, writing,
// reading, backoff and DNS (Asio's asynchronous resolver) are all asynchronous, and each attempt
// is bounded by the target's `timeout`.
//
// The pool is per process, not per loop: a target has at most kConnectionsPerTarget workers,
// each owning one keep-alive connection, started on the loop that queued a delivery when no
// worker is idle. Per process because the backend then sees a handful of connections however
// many loops the server runs, and the queue bound (`queue`) is one number for the whole target,
// as the config says. The price is one mutex per queued delivery, paid only by `_webhook`.
// A worker lives on one loop for its life (its connection belongs to that loop's io_context); an
// idle worker parks for kIdleConnectionTimeout, then closes its connection and ends.
//
// Each delivery: POST with Content-Type: application/json, X-Dispatch-Event, X-Dispatch-Delivery
// (a random id, the same on every retry) and, with a secret, X-Dispatch-Signature (signed once
// when queued, so retries are byte for byte the same request). 2xx: delivered. 5xx, a timeout, a
// refused or lost connection: retried up to `retries` times after retry_delay() (backoff with
// jitter). Anything else (4xx, 3xx): final. A reused keep-alive connection that turns out to be
// closed by the backend is reconnected once without counting as a retry. What is dropped (queue
// full) or fails is counted (webhook_stats.h) and logged at most once per kProblemLogInterval
// per target, with the counts since the last line and the totals.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "webhook/webhook_stats.h"

namespace dispatch::webhook {

inline constexpr size_t kConnectionsPerTarget = 4;
inline constexpr std::chrono::seconds kIdleConnectionTimeout{30};
inline constexpr std::chrono::seconds kProblemLogInterval{5};
inline constexpr uint64_t kMaxResponseBodySize = 64 * 1024;

class WebhookClient : public std::enable_shared_from_this<WebhookClient> {
 public:
  static std::shared_ptr<WebhookClient> create(config::WebhookTarget target);

  // Queues one POST of `body` (a JSON document) for `event` and returns at once; a new worker,
  // if one is needed, runs on `loop`. False when the queue was full: the delivery was dropped,
  // counted and logged.
  bool enqueue(const boost::asio::any_io_executor& loop, std::string_view event, std::string body,
               int64_t unix_seconds);

  const config::WebhookTarget& target() const { return target_; }

  struct Job {
    std::string id;  // X-Dispatch-Delivery
    std::string event;
    std::string body;
    std::string signature;  // "" without a secret
  };
  struct Worker;
  enum class Outcome { delivered, final_failure, retryable, connection_lost };

 private:
  explicit WebhookClient(config::WebhookTarget target);

  static boost::asio::awaitable<void> work(std::shared_ptr<WebhookClient> self,
                                           std::shared_ptr<Worker> worker);
  boost::asio::awaitable<void> deliver(const Job& job,
                                       std::optional<boost::beast::tcp_stream>& stream);
  boost::asio::awaitable<Outcome> attempt(const Job& job,
                                          std::optional<boost::beast::tcp_stream>& stream,
                                          std::string& reason);
  static boost::asio::awaitable<void> log_summary_later(std::shared_ptr<WebhookClient> self);
  // Under mutex_: the next job, or nullopt after parking the worker.
  std::optional<Job> take_job(const std::shared_ptr<Worker>& worker);
  // True when the worker may end (nothing queued); it is then no longer counted.
  bool retire(const std::shared_ptr<Worker>& worker);
  void note_problem(const boost::asio::any_io_executor& executor, bool dropped, std::string reason);
  void log_problems_now();

  const config::WebhookTarget target_;
  WebhookCounters& counters_;

  std::mutex mutex_;
  std::deque<Job> queue_;
  size_t workers_ = 0;                         // running, busy or parked
  std::vector<std::weak_ptr<Worker>> parked_;  // idle workers, last parked at the back
  // Logging once per interval: what happened since the last line.
  uint64_t unlogged_dropped_ = 0;
  uint64_t unlogged_failed_ = 0;
  std::string last_reason_;
  std::chrono::steady_clock::time_point next_log_{};
  bool summary_scheduled_ = false;
};

}  // namespace dispatch::webhook
