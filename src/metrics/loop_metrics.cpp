#include "metrics/loop_metrics.h"

#include <algorithm>

namespace dispatch::metrics {

std::string_view closed_by_name(ClosedBy by) {
  switch (by) {
    case ClosedBy::server:
      return "server";
    case ClosedBy::client:
      return "client";
    case ClosedBy::network:
      return "network";
  }
  return "server";
}

size_t close_code_slot(uint16_t code) {
  const auto* found = std::find(kKnownCloseCodes.begin(), kKnownCloseCodes.end(), code);
  return static_cast<size_t>(found - kKnownCloseCodes.begin());  // the end: "other"
}

std::string close_code_label(size_t slot) {
  return slot < kKnownCloseCodes.size() ? std::to_string(kKnownCloseCodes[slot]) : "other";
}

void EventOutcomes::install(const std::vector<std::string>& event_names) {
  std::lock_guard lock(mutex_);
  current_.clear();
  for (const std::string& name : event_names) {
    auto found = rows_.find(name);
    if (found == rows_.end()) found = rows_.emplace(name, std::make_unique<Row>()).first;
    current_.push_back(found->second.get());
  }
}

void LoopMetrics::count_api_request(std::string_view route, int status) {
  std::lock_guard lock(refusals_mutex_);
  api_requests_[{std::string(route), status}].add();
}

void LoopMetrics::count_refused(std::string_view code) {
  std::lock_guard lock(refusals_mutex_);
  auto found = refusals_.find(code);
  if (found == refusals_.end()) found = refusals_.try_emplace(std::string(code)).first;
  found->second.add();
}

}  // namespace dispatch::metrics
