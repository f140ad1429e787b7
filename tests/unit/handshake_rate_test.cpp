// auth.handshake_rate_per_ip's process-wide counter: per IPv4 address or IPv6 /64, kept across
// reloads that keep the rate, started afresh by one that changes it.
#include "server/handshake_rate.h"

#include <gtest/gtest.h>

#include "config/cidr.h"
#include "transport/upgrade.h"

namespace dispatch {
namespace {

using std::chrono::minutes;

PeerAddress address(std::string_view text) {
  PeerAddress peer;
  peer.bytes = config::parse_ip(text).value();
  return peer;
}

const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1000);

TEST(HandshakeRate, CountZeroIsNoLimitAndRemembersNothing) {
  HandshakeRate rate;
  for (int i = 0; i < 100; ++i)
    EXPECT_TRUE(rate.hit(address("10.0.0.1"), {0, minutes(1)}, t0).allowed);
  EXPECT_EQ(rate.remembered(), 0u);
}

TEST(HandshakeRate, Ipv4CountsPerAddressIpv6PerSlash64) {
  HandshakeRate rate;
  const config::RateSpec one{1, minutes(1)};
  EXPECT_TRUE(rate.hit(address("10.0.0.1"), one, t0).allowed);
  EXPECT_FALSE(rate.hit(address("10.0.0.1"), one, t0).allowed);
  EXPECT_TRUE(rate.hit(address("10.0.0.2"), one, t0).allowed);

  EXPECT_TRUE(rate.hit(address("2001:db8::1"), one, t0).allowed);
  const auto same_64 = rate.hit(address("2001:db8::ffff:ffff:ffff:2"), one, t0);
  EXPECT_FALSE(same_64.allowed);
  EXPECT_GT(same_64.retry_after_ms, 0);
  EXPECT_TRUE(rate.hit(address("2001:db8:0:1::1"), one, t0).allowed);
  // An IPv4 address is not an IPv6 /64 sharing its first bytes (::ffff:0:0/96 is all IPv4).
  EXPECT_TRUE(rate.hit(address("10.0.0.3"), one, t0).allowed);
}

TEST(HandshakeRate, ReloadKeepsCountsUnlessTheRateChanges) {
  HandshakeRate rate;
  const config::RateSpec one{1, minutes(1)};
  EXPECT_TRUE(rate.hit(address("10.0.0.1"), one, t0).allowed);
  EXPECT_FALSE(rate.hit(address("10.0.0.1"), config::RateSpec{1, minutes(1)}, t0).allowed);
  const config::RateSpec two{2, minutes(1)};
  EXPECT_TRUE(rate.hit(address("10.0.0.1"), two, t0).allowed);
  EXPECT_TRUE(rate.hit(address("10.0.0.1"), two, t0).allowed);
  EXPECT_FALSE(rate.hit(address("10.0.0.1"), two, t0).allowed);
}

TEST(HandshakeRate, RemembersAtMostItsBound) {
  HandshakeRate rate;
  const config::RateSpec one{1, minutes(1)};
  PeerAddress peer = address("::ffff:10.0.0.0");
  for (uint32_t i = 0; i < 2 * HandshakeRate::kMaxAddresses; ++i) {
    peer.bytes[13] = static_cast<uint8_t>(i >> 16);
    peer.bytes[14] = static_cast<uint8_t>(i >> 8);
    peer.bytes[15] = static_cast<uint8_t>(i);
    rate.hit(peer, one, t0);
  }
  EXPECT_LE(rate.remembered(), HandshakeRate::kMaxAddresses);
}

TEST(RequestPath, IsTheRequestLinesTargetWithoutItsQuery) {
  EXPECT_EQ(request_path("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"), "/ws");
  EXPECT_EQ(request_path("GET /ws?token=abc HTTP/1.1\r\n\r\n"), "/ws");
  EXPECT_EQ(request_path("POST /api/x HTTP/1.1\r\n\r\n"), "/api/x");
  EXPECT_EQ(request_path("GET /ws"), "/ws");
  EXPECT_EQ(request_path(""), "");
  EXPECT_EQ(request_path("garbage\r\n\r\n"), "");
}

}  // namespace
}  // namespace dispatch
