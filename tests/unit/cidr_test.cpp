// server.trusted_proxies ranges: IPv4 and IPv6 CIDRs, single addresses, and clear errors.
#include "config/cidr.h"

#include <gtest/gtest.h>

namespace dispatch::config {
namespace {

IpBytes ip(std::string_view text) {
  auto parsed = parse_ip(text);
  EXPECT_TRUE(parsed) << text;
  return parsed.value_or(IpBytes{});
}

Cidr cidr(std::string_view text) {
  auto parsed = parse_cidr(text);
  EXPECT_TRUE(parsed) << text << ": " << parsed.error;
  return parsed.value.value_or(Cidr{});
}

TEST(Cidr, Ipv4RangeMatchesItsAddressesOnly) {
  const Cidr range = cidr("10.0.0.0/8");
  EXPECT_TRUE(range.contains(ip("10.0.0.0")));
  EXPECT_TRUE(range.contains(ip("10.255.255.255")));
  EXPECT_FALSE(range.contains(ip("11.0.0.0")));
  EXPECT_FALSE(range.contains(ip("9.255.255.255")));
  EXPECT_FALSE(range.contains(ip("::a00:1")));  // IPv6, not the mapped IPv4 address
  const Cidr odd = cidr("192.168.4.0/22");
  EXPECT_TRUE(odd.contains(ip("192.168.7.255")));
  EXPECT_FALSE(odd.contains(ip("192.168.8.0")));
  EXPECT_FALSE(odd.contains(ip("192.168.3.255")));
}

TEST(Cidr, Ipv6RangeMatchesItsAddressesOnly) {
  const Cidr range = cidr("2001:db8::/33");
  EXPECT_TRUE(range.contains(ip("2001:db8::1")));
  EXPECT_TRUE(range.contains(ip("2001:db8:7fff:ffff::")));
  EXPECT_FALSE(range.contains(ip("2001:db8:8000::")));
  EXPECT_FALSE(range.contains(ip("10.0.0.1")));
}

TEST(Cidr, SingleAddressesAndWholeSpaces) {
  EXPECT_TRUE(cidr("192.0.2.7").contains(ip("192.0.2.7")));
  EXPECT_FALSE(cidr("192.0.2.7").contains(ip("192.0.2.8")));
  EXPECT_TRUE(cidr("::1").contains(ip("::1")));
  EXPECT_FALSE(cidr("::1").contains(ip("::2")));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
  EXPECT_TRUE(cidr("::/0").contains(ip("2001:db8::1")));
}

TEST(Cidr, MalformedRangesAreRefusedWithWhatWasMeant) {
  for (const char* text : {"", "10.0.0.0/", "10.0.0.0/x", "10.0.0/8", "example.com/8",
                           "10.0.0.0/8/8", "[::1]/128", "10.0.0.0/-1"}) {
    const auto parsed = parse_cidr(text);
    EXPECT_FALSE(parsed) << text;
    EXPECT_NE(parsed.error.find("CIDR range like"), std::string::npos) << text;
  }
  EXPECT_EQ(parse_cidr("10.0.0.0/33").error,
            "the prefix length must be at most 32 for an IPv4 range");
  EXPECT_EQ(parse_cidr("::/129").error, "the prefix length must be at most 128 for an IPv6 range");
  EXPECT_EQ(parse_cidr("10.0.0.1/8").error,
            "the address has bits set past its /8 prefix (did you mean 10.0.0.0/8?)");
}

}  // namespace
}  // namespace dispatch::config
