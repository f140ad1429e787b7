// auth.handshake_rate_per_ip: how often one client IP may ask to upgrade, process-wide. Every
// loop asks it once per request for the WebSocket path, before the token is verified, so that
// token guessing and reconnect loops cost one counter lookup each. An IPv6 client is counted by
// its /64 (one host is usually given a whole /64); IPv4 by its address.
//
// The counter belongs to the rate in force: a reload that changes the rate replaces it (and
// starts the counts afresh); one that keeps it keeps the counts. The table remembers at most
// kMaxAddresses addresses at once (SlidingWindowCounter's bound), so a flood of distinct
// addresses costs bounded memory.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>

#include "config/config.h"
#include "server/peer_table.h"
#include "steps/modifiers/sliding_window.h"

namespace dispatch {

class HandshakeRate {
 public:
  static constexpr size_t kMaxAddresses = 65536;

  // Counts one upgrade request from `client` under `rate` (count 0: no limit, nothing counted).
  SlidingWindowCounter::Decision hit(const PeerAddress& client, const config::RateSpec& rate,
                                     std::chrono::steady_clock::time_point now);

  size_t remembered() const;  // addresses counted at the moment (for tests)

 private:
  std::shared_ptr<SlidingWindowCounter> counter_for(const config::RateSpec& rate);

  mutable std::mutex mutex_;  // guards the two fields below, not the counts
  config::RateSpec rate_;
  std::shared_ptr<SlidingWindowCounter> counter_;
};

}  // namespace dispatch
