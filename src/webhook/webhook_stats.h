// What became of the deliveries to each webhook target, for /metrics and the logs. Kept per
// target name for the life of the process (a config reload keeps counting under the same
// name); names come only from config, never from a client. Only `_webhook` touches these
// counters, so a config without webhooks pays nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dispatch::webhook {

struct WebhookStats {
  uint64_t delivered = 0;  // answered 2xx
  uint64_t failed = 0;     // answered 4xx (or 1xx/3xx), or out of retries
  uint64_t dropped = 0;    // the target's queue was full
  uint64_t retried = 0;    // attempts after the first (5xx, timeout, refused or lost connection)
};

struct WebhookCounters {
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> retried{0};

  WebhookStats read() const;
};

// The counters of target `name`, created on first use; the reference stays valid for the life
// of the process.
WebhookCounters& webhook_counters(std::string_view name);

// Every target's counters so far, by name in name order (for /metrics).
std::vector<std::pair<std::string, WebhookStats>> read_webhook_stats();

}  // namespace dispatch::webhook
