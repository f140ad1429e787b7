// What one event loop counts for /metrics (docs/OPERATIONS.md lists the series). One per loop,
// in its SessionContext; written only by the loop's thread, read by a scrape on any thread,
// which sums every loop's values. Labels come only from the config (event names) and from fixed
// lists in the code (error codes, close codes, refusal codes) — never from what a client sent:
// a close code a client chose that is not a known one is counted as "other".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dispatch/error_code.h"
#include "metrics/duration_histogram.h"
#include "metrics/loop_counter.h"

namespace dispatch::metrics {

inline constexpr size_t kErrorCodeCount = static_cast<size_t>(ErrorCode::internal) + 1;

// Who ended a connection: the server (its close frame), the client (its close frame), or the
// network (no close frame).
enum class ClosedBy : uint8_t { server, client, network };
inline constexpr size_t kClosedByCount = 3;
std::string_view closed_by_name(ClosedBy by);

// The close codes counted by their number; any other is "other".
inline constexpr std::array<uint16_t, 17> kKnownCloseCodes = {1000, 1001, 1002, 1003, 1005, 1006,
                                                              1007, 1008, 1009, 1010, 1011, 4000,
                                                              4001, 4003, 4401, 4403, 4429};
inline constexpr size_t kCloseCodeSlots = kKnownCloseCodes.size() + 1;  // + "other"
size_t close_code_slot(uint16_t code);
std::string close_code_label(size_t slot);

// The lifecycle hooks counted in LoopMetrics::hook_runs (pipeline/hook.h names them).
inline constexpr size_t kHookSlots = 4;

// Messages of each declared event by outcome: ok, or the error code it was answered with.
// Rows are kept by event name for the life of the process, so a reload that keeps an event keeps
// its counts (Prometheus counters never go back) and one that drops it keeps reporting its last
// values.
class EventOutcomes {
 public:
  using Row = std::array<LoopCounter, 1 + kErrorCodeCount>;  // [0] ok, [1 + code] errors

  // The events of the config in force, in Pipeline::index order. On the loop's thread.
  void install(const std::vector<std::string>& event_names);
  void count(size_t event_index, std::optional<ErrorCode> failure) {
    (*current_[event_index])[failure ? 1 + static_cast<size_t>(*failure) : 0].add();
  }
  // f(event name, row) for every event ever installed; from any thread.
  template <typename F>
  void for_each(F&& f) const {
    std::lock_guard lock(mutex_);
    for (const auto& [name, row] : rows_) f(name, *row);
  }

 private:
  mutable std::mutex mutex_;  // guards rows_' structure (install vs a scrape), not the counts
  std::map<std::string, std::unique_ptr<Row>, std::less<>> rows_;
  std::vector<Row*> current_;  // by Pipeline::index; touched only by the loop's thread
};

struct LoopMetrics {
  LoopCounter connections_opened;
  std::array<std::array<LoopCounter, kCloseCodeSlots>, kClosedByCount> connections_closed;
  LoopCounter messages_in;
  LoopCounter bytes_in;
  LoopCounter messages_out;  // frames queued for clients: replies, acks, errors, deliveries
  LoopCounter bytes_out;
  LoopCounter queue_drops;           // frames dropped by slow_consumer drop_newest/drop_oldest
  LoopCounter slow_consumer_closes;  // connections closed by slow_consumer: disconnect
  // Messages answered with an error before they reached an event (bad_json, bad_message,
  // unknown_event).
  std::array<LoopCounter, kErrorCodeCount> messages_refused;
  EventOutcomes events;
  // Lifecycle hook runs (`hooks:`), by hook (in pipeline/hook.h's order: on_connect,
  // on_disconnect, on_join, on_leave) and outcome ([0] ok, [1] failed).
  std::array<std::array<LoopCounter, 2>, kHookSlots> hook_runs;
  // The time the loop spends on a message, parse to last step (a pending step's wait is not
  // included), sampled one message in SampledTimer::kSampleEvery.
  DurationHistogram message_duration;
  uint32_t message_sample_countdown = SampledTimer::kSampleEvery;  // the loop's thread only

  void count_closed(ClosedBy by, uint16_t code) {
    connections_closed[static_cast<size_t>(by)][close_code_slot(code)].add();
  }
  // Handshakes refused, by their refusal code (a fixed set of names in the code). Not on the
  // message path: a map under a mutex.
  void count_refused(std::string_view code);
  template <typename F>
  void for_each_refusal(F&& f) const {
    std::lock_guard lock(refusals_mutex_);
    for (const auto& [code, count] : refusals_) f(code, count.read());
  }

  // Server API requests answered, by route (publish, rooms, disconnect, reload, or "none" when
  // refused before a route was known) and HTTP status. Not on the message path either.
  void count_api_request(std::string_view route, int status);
  template <typename F>
  void for_each_api_request(F&& f) const {
    std::lock_guard lock(refusals_mutex_);
    for (const auto& [key, count] : api_requests_) f(key.first, key.second, count.read());
  }

 private:
  mutable std::mutex refusals_mutex_;
  std::map<std::string, LoopCounter, std::less<>> refusals_;
  std::map<std::pair<std::string, int>, LoopCounter> api_requests_;  // under refusals_mutex_
};

}  // namespace dispatch::metrics
