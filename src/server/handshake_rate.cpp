#include "server/handshake_rate.h"

#include <algorithm>
#include <string_view>

namespace dispatch {
namespace {

bool is_ipv4_mapped(const PeerAddress& address) {
  static constexpr std::array<uint8_t, 12> prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::equal(prefix.begin(), prefix.end(), address.bytes.begin());
}

}  // namespace

SlidingWindowCounter::Decision HandshakeRate::hit(const PeerAddress& client,
                                                  const config::RateSpec& rate,
                                                  std::chrono::steady_clock::time_point now) {
  if (rate.count == 0) return {true, 0};
  const std::shared_ptr<SlidingWindowCounter> counter = counter_for(rate);
  // The key is the address's bytes: all 16 for IPv4 (mapped), the first 8 (the /64) for IPv6.
  const size_t key_length = is_ipv4_mapped(client) ? client.bytes.size() : 8;
  const std::string_view key(reinterpret_cast<const char*>(client.bytes.data()), key_length);
  return counter->hit(key, now);
}

size_t HandshakeRate::remembered() const {
  std::lock_guard lock(mutex_);
  return counter_ ? counter_->size() : 0;
}

std::shared_ptr<SlidingWindowCounter> HandshakeRate::counter_for(const config::RateSpec& rate) {
  std::lock_guard lock(mutex_);
  if (!counter_ || !(rate_ == rate)) {
    rate_ = rate;
    counter_ = std::make_shared<SlidingWindowCounter>(
        rate.count, std::chrono::duration_cast<std::chrono::milliseconds>(rate.window),
        kMaxAddresses);
  }
  return counter_;
}

}  // namespace dispatch
