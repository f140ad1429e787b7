#include "webhook/webhook_client.h"

#include <openssl/rand.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <random>

#include "log/log.h"
#include "webhook/retry_backoff.h"
#include "webhook/webhook_signature.h"

namespace dispatch::webhook {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

std::string new_delivery_id() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    thread_local std::mt19937_64 fallback{std::random_device{}()};
    for (unsigned char& byte : bytes) byte = static_cast<unsigned char>(fallback());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char byte : bytes) {
    id += kHex[byte >> 4];
    id += kHex[byte & 0x0f];
  }
  return id;
}

double jitter() {
  thread_local std::mt19937 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

std::string error_reason(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return "timeout";
  if (ec == asio::error::connection_refused) return "connection refused";
  return ec.message();
}

}  // namespace

struct WebhookClient::Worker {
  explicit Worker(const asio::any_io_executor& executor) : executor(executor), wake(executor) {}
  asio::any_io_executor executor;
  asio::steady_timer wake;  // a parked worker waits on it; enqueue() makes it expire
};

std::shared_ptr<WebhookClient> WebhookClient::create(config::WebhookTarget target) {
  return std::shared_ptr<WebhookClient>(new WebhookClient(std::move(target)));
}

WebhookClient::WebhookClient(config::WebhookTarget target)
    : target_(std::move(target)), counters_(webhook_counters(target_.name)) {}

bool WebhookClient::enqueue(const asio::any_io_executor& loop, std::string_view event,
                            std::string body, int64_t unix_seconds) {
  Job job;
  job.id = new_delivery_id();
  job.event = std::string(event);
  job.signature = webhook_signature(target_.secret, unix_seconds, body);
  job.body = std::move(body);

  std::shared_ptr<Worker> to_wake;
  bool start_worker = false;
  bool queued = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= target_.queue) {
      counters_.dropped.fetch_add(1, std::memory_order_relaxed);
      ++unlogged_dropped_;
    } else {
      queue_.push_back(std::move(job));
      while (!parked_.empty() && !to_wake) {
        to_wake = parked_.back().lock();
        parked_.pop_back();
      }
      if (!to_wake && workers_ < kConnectionsPerTarget) {
        ++workers_;
        start_worker = true;
      }
      queued = true;
    }
  }
  if (!queued) {
    note_problem(loop, true, "queue full (" + std::to_string(target_.queue) + " waiting)");
    return false;
  }
  if (to_wake) {
    // Runs on the worker's own loop (timers are not thread-safe): a wait in progress completes
    // at once, and one not started yet completes at once when it starts.
    asio::post(to_wake->executor,
               [to_wake] { to_wake->wake.expires_at(asio::steady_timer::time_point::min()); });
  } else if (start_worker) {
    auto worker = std::make_shared<Worker>(loop);
    asio::co_spawn(loop, work(shared_from_this(), std::move(worker)), asio::detached);
  }
  return true;
}

std::optional<WebhookClient::Job> WebhookClient::take_job(const std::shared_ptr<Worker>& worker) {
  std::lock_guard lock(mutex_);
  if (!queue_.empty()) {
    Job job = std::move(queue_.front());
    queue_.pop_front();
    // Woken by its idle timeout while an enqueue() still counted it as parked: busy now.
    std::erase_if(parked_, [&](const std::weak_ptr<Worker>& parked) {
      return parked.expired() || parked.lock() == worker;
    });
    return job;
  }
  worker->wake.expires_after(kIdleConnectionTimeout);
  parked_.push_back(worker);
  return std::nullopt;
}

bool WebhookClient::retire(const std::shared_ptr<Worker>& worker) {
  std::lock_guard lock(mutex_);
  if (!queue_.empty()) return false;
  std::erase_if(parked_, [&](const std::weak_ptr<Worker>& parked) {
    return parked.expired() || parked.lock() == worker;
  });
  --workers_;
  return true;
}

asio::awaitable<void> WebhookClient::work(std::shared_ptr<WebhookClient> self,
                                          std::shared_ptr<Worker> worker) {
  std::optional<beast::tcp_stream> stream;  // the keep-alive connection, when open
  for (;;) {
    std::optional<Job> job = self->take_job(worker);
    if (job) {
      co_await self->deliver(*job, stream);
      continue;
    }
    auto [ec] = co_await worker->wake.async_wait(kNoThrow);
    // Woken (the timer was made to expire) or idle for kIdleConnectionTimeout: either way, take
    // what is queued; end only when nothing is.
    (void)ec;
    if (worker->wake.expiry() != asio::steady_timer::time_point::min() && self->retire(worker)) {
      break;
    }
  }
  if (stream) {
    boost::system::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
}

asio::awaitable<void> WebhookClient::deliver(const Job& job,
                                             std::optional<beast::tcp_stream>& stream) {
  std::string reason;
  for (uint32_t retry = 0;; ++retry) {
    Outcome outcome = co_await attempt(job, stream, reason);
    // A keep-alive connection the backend closed while idle: once more on a new one, not
    // counted as a retry.
    if (outcome == Outcome::connection_lost) outcome = co_await attempt(job, stream, reason);
    if (outcome == Outcome::delivered) {
      counters_.delivered.fetch_add(1, std::memory_order_relaxed);
      co_return;
    }
    if (outcome == Outcome::retryable && retry < target_.retries) {
      counters_.retried.fetch_add(1, std::memory_order_relaxed);
      asio::steady_timer backoff(co_await asio::this_coro::executor);
      backoff.expires_after(retry_delay(retry + 1, jitter()));
      co_await backoff.async_wait(kNoThrow);
      continue;
    }
    counters_.failed.fetch_add(1, std::memory_order_relaxed);
    if (outcome != Outcome::final_failure) {
      reason += " after " + std::to_string(retry + 1) + " attempt" + (retry == 0 ? "" : "s");
    }
    {
      std::lock_guard lock(mutex_);
      ++unlogged_failed_;
    }
    note_problem(co_await asio::this_coro::executor, false, std::move(reason));
    co_return;
  }
}

asio::awaitable<WebhookClient::Outcome> WebhookClient::attempt(
    const Job& job, std::optional<beast::tcp_stream>& stream, std::string& reason) {
  const auto executor = co_await asio::this_coro::executor;
  const bool reused = stream.has_value();
  if (!stream) {
    tcp::resolver resolver(executor);
    auto [resolve_error, endpoints] = co_await resolver.async_resolve(
        target_.address.host, std::to_string(target_.address.port), kNoThrow);
    if (resolve_error) {
      reason = "cannot resolve " + target_.address.host + ": " + resolve_error.message();
      co_return Outcome::retryable;
    }
    stream.emplace(executor);
    stream->expires_after(target_.timeout);
    auto [connect_error, endpoint] = co_await stream->async_connect(endpoints, kNoThrow);
    (void)endpoint;
    if (connect_error) {
      reason = error_reason(connect_error);
      stream.reset();
      co_return Outcome::retryable;
    }
  }
  stream->expires_after(target_.timeout);

  http::request<http::string_body> request{http::verb::post, target_.address.path, 11};
  const bool ipv6 = target_.address.host.find(':') != std::string::npos;
  request.set(http::field::host, (ipv6 ? "[" + target_.address.host + "]" : target_.address.host) +
                                     ":" + std::to_string(target_.address.port));
  request.set(http::field::user_agent, "dispatch/" DISPATCH_VERSION);
  request.set(http::field::content_type, "application/json");
  request.set("X-Dispatch-Event", job.event);
  request.set("X-Dispatch-Delivery", job.id);
  if (!job.signature.empty()) request.set("X-Dispatch-Signature", job.signature);
  request.keep_alive(true);
  request.body() = job.body;
  request.prepare_payload();

  auto [write_error, written] = co_await http::async_write(*stream, request, kNoThrow);
  (void)written;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBodySize);
  boost::system::error_code read_error;
  if (!write_error) {
    auto [error, read] = co_await http::async_read(*stream, buffer, parser, kNoThrow);
    (void)read;
    read_error = error;
  }
  const boost::system::error_code error = write_error ? write_error : read_error;
  if (error) {
    reason = error_reason(error);
    stream.reset();
    const bool lost = error == http::error::end_of_stream || error == asio::error::eof ||
                      error == asio::error::connection_reset || error == asio::error::broken_pipe;
    co_return reused&& lost ? Outcome::connection_lost : Outcome::retryable;
  }
  const auto& response = parser.get();
  if (!response.keep_alive()) stream.reset();
  const unsigned status = response.result_int();
  if (status >= 200 && status < 300) co_return Outcome::delivered;
  reason = "HTTP " + std::to_string(status);
  co_return status >= 500 ? Outcome::retryable : Outcome::final_failure;
}

void WebhookClient::note_problem(const asio::any_io_executor& executor, bool dropped,
                                 std::string reason) {
  bool log_now = false;
  bool schedule = false;
  {
    std::lock_guard lock(mutex_);
    // Dropped deliveries were counted by enqueue(), failed ones by deliver().
    (void)dropped;
    last_reason_ = std::move(reason);
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_log_) {
      log_now = true;
      next_log_ = now + kProblemLogInterval;
    } else if (!summary_scheduled_) {
      summary_scheduled_ = true;
      schedule = true;
    }
  }
  if (log_now) log_problems_now();
  if (schedule) asio::co_spawn(executor, log_summary_later(shared_from_this()), asio::detached);
}

asio::awaitable<void> WebhookClient::log_summary_later(std::shared_ptr<WebhookClient> self) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  {
    std::lock_guard lock(self->mutex_);
    timer.expires_at(self->next_log_);
  }
  co_await timer.async_wait(kNoThrow);
  {
    std::lock_guard lock(self->mutex_);
    self->summary_scheduled_ = false;
    self->next_log_ = std::chrono::steady_clock::now() + kProblemLogInterval;
  }
  self->log_problems_now();
}

void WebhookClient::log_problems_now() {
  uint64_t dropped = 0;
  uint64_t failed = 0;
  std::string reason;
  {
    std::lock_guard lock(mutex_);
    dropped = std::exchange(unlogged_dropped_, 0);
    failed = std::exchange(unlogged_failed_, 0);
    reason = last_reason_;
  }
  if (dropped == 0 && failed == 0) return;
  const WebhookStats totals = counters_.read();
  log::warn("webhook deliveries lost")
      .field("target", target_.name)
      .field("dropped", dropped)
      .field("failed", failed)
      .field("last_reason", reason)
      .field("dropped_total", totals.dropped)
      .field("failed_total", totals.failed)
      .field("delivered_total", totals.delivered)
      .field("retried_total", totals.retried);
}

}  // namespace dispatch::webhook
