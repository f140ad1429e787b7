// IP addresses and CIDR ranges (`server.trusted_proxies`). Every address is held as 16 bytes,
// an IPv4 address as ::ffff:a.b.c.d (as the kernel maps it on a dual-stack socket), so one
// range type matches both families: "10.0.0.0/8" is ::ffff:10.0.0.0/104.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dispatch::config {

using IpBytes = std::array<uint8_t, 16>;

// "192.0.2.1" or "2001:db8::1" (no brackets, no port, no zone); nullopt when it is neither.
std::optional<IpBytes> parse_ip(std::string_view text);

// The address as text: dotted IPv4 for ::ffff:a.b.c.d, else IPv6 ("2001:db8::1").
std::string ip_text(const IpBytes& address);

struct Cidr {
  IpBytes network{};   // host bits are zero
  uint8_t prefix = 0;  // over the 16 bytes: an IPv4 /8 is 104

  bool contains(const IpBytes& address) const;
  bool operator==(const Cidr&) const = default;
};

// Like config/units.h's ParseResult (which this cannot include: units.h needs config.h, and
// config.h holds Cidr values).
struct CidrParse {
  std::optional<Cidr> value;
  std::string error;  // set exactly when `value` is empty

  explicit operator bool() const { return value.has_value(); }
};

// "10.0.0.0/8", "2001:db8::/32", or a single address ("192.0.2.7" = /32, "::1" = /128).
// A range with bits set past its prefix ("10.0.0.1/8") is refused, with the range meant.
CidrParse parse_cidr(std::string_view text);

}  // namespace dispatch::config
