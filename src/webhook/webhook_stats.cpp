#include "webhook/webhook_stats.h"

#include <map>
#include <memory>
#include <mutex>

namespace dispatch::webhook {

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, std::unique_ptr<WebhookCounters>, std::less<>> by_name;
};

Registry& registry() {
  static Registry* instance = new Registry();  // never destroyed: loops may count at exit
  return *instance;
}

}  // namespace

WebhookStats WebhookCounters::read() const {
  WebhookStats stats;
  stats.delivered = delivered.load(std::memory_order_relaxed);
  stats.failed = failed.load(std::memory_order_relaxed);
  stats.dropped = dropped.load(std::memory_order_relaxed);
  stats.retried = retried.load(std::memory_order_relaxed);
  return stats;
}

WebhookCounters& webhook_counters(std::string_view name) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto found = r.by_name.find(name);
  if (found == r.by_name.end()) {
    found = r.by_name.emplace(std::string(name), std::make_unique<WebhookCounters>()).first;
  }
  return *found->second;
}

std::vector<std::pair<std::string, WebhookStats>> read_webhook_stats() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::vector<std::pair<std::string, WebhookStats>> result;
  for (const auto& [name, counters] : r.by_name) result.emplace_back(name, counters->read());
  return result;
}

}  // namespace dispatch::webhook
