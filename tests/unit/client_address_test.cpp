// The client IP behind server.trusted_proxies: X-Forwarded-For read from the right, only from
// trusted peers, and ignored when malformed.
#include "server/client_address.h"

#include <gtest/gtest.h>

namespace dispatch {
namespace {

PeerAddress address(std::string_view text) {
  PeerAddress peer;
  peer.bytes = config::parse_ip(text).value();
  return peer;
}

std::vector<config::Cidr> ranges(std::initializer_list<const char*> texts) {
  std::vector<config::Cidr> result;
  for (const char* text : texts) result.push_back(*config::parse_cidr(text).value);
  return result;
}

std::string client(std::string_view peer, std::string_view header,
                   const std::vector<config::Cidr>& trusted) {
  return client_address(address(peer), header, trusted).text();
}

TEST(ClientAddress, UntrustedPeersHeadersAreIgnored) {
  EXPECT_EQ(client("198.51.100.1", "203.0.113.5", {}), "198.51.100.1");
  EXPECT_EQ(client("198.51.100.1", "203.0.113.5", ranges({"10.0.0.0/8"})), "198.51.100.1");
}

TEST(ClientAddress, TrustedPeerGivesTheRightmostUntrustedAddress) {
  const auto trusted = ranges({"10.0.0.0/8", "2001:db8::/32"});
  EXPECT_EQ(client("10.0.0.2", "203.0.113.5", trusted), "203.0.113.5");
  // A client may put anything on the left; only what trusted proxies appended counts.
  EXPECT_EQ(client("10.0.0.2", "1.2.3.4, 203.0.113.5, 10.1.1.1", trusted), "203.0.113.5");
  EXPECT_EQ(client("10.0.0.2", "[2001:db9::7]:4711,10.0.0.9", trusted), "2001:db9::7");
  EXPECT_EQ(client("10.0.0.2", "203.0.113.5:4711", trusted), "203.0.113.5");
  EXPECT_EQ(client("10.0.0.2", "10.0.0.3, 10.0.0.4", trusted), "10.0.0.3");  // all proxies
}

TEST(ClientAddress, MissingOrMalformedHeaderGivesTheTcpPeer) {
  const auto trusted = ranges({"10.0.0.0/8"});
  for (const char* header : {"", "  ", "unknown", "203.0.113.5, garbage", "203.0.113.5,,",
                             "[2001:db8::1", "203.0.113.5;rm", "999.1.1.1"}) {
    EXPECT_EQ(client("10.0.0.2", header, trusted), "10.0.0.2") << header;
  }
}

TEST(ClientAddress, HeaderLinesAreFoundInAnyCaseAndJoined) {
  EXPECT_EQ(forwarded_for_header("GET /ws HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 1.1.1.1\r\n"
                                 "X-Forwarded-For:  2.2.2.2 \r\n\r\n"),
            "1.1.1.1,2.2.2.2");
  EXPECT_EQ(forwarded_for_header("GET /ws HTTP/1.1\r\nHost: a\r\n\r\n"), "");
}

}  // namespace
}  // namespace dispatch
