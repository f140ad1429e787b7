#include "config/cidr.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

namespace dispatch::config {

namespace {

constexpr std::string_view kCidrExpected =
    "expected an address or a CIDR range like \"10.0.0.0/8\" or \"2001:db8::/32\"";

IpBytes v4_mapped(const uint8_t (&v4)[4]) {
  IpBytes bytes{};
  bytes[10] = bytes[11] = 0xff;
  std::memcpy(bytes.data() + 12, v4, 4);
  return bytes;
}

bool is_v4_mapped(const IpBytes& bytes) {
  static constexpr uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes.data(), prefix, 12) == 0;
}

std::string text_of(const IpBytes& bytes) {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (is_v4_mapped(bytes)) {
    inet_ntop(AF_INET, bytes.data() + 12, buffer, sizeof buffer);
  } else {
    inet_ntop(AF_INET6, bytes.data(), buffer, sizeof buffer);
  }
  return buffer;
}

CidrParse failure(std::string message) {
  return {std::nullopt, std::move(message)};
}

}  // namespace

std::string ip_text(const IpBytes& address) {
  char buffer[INET6_ADDRSTRLEN] = {};
  static constexpr uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(address.data(), v4_prefix, 12) == 0) {
    inet_ntop(AF_INET, address.data() + 12, buffer, sizeof buffer);
  } else {
    inet_ntop(AF_INET6, address.data(), buffer, sizeof buffer);
  }
  return buffer;
}

std::optional<IpBytes> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buffer[INET6_ADDRSTRLEN] = {};
  std::memcpy(buffer, text.data(), text.size());
  uint8_t v4[4];
  if (inet_pton(AF_INET, buffer, v4) == 1) return v4_mapped(v4);
  IpBytes bytes{};
  if (inet_pton(AF_INET6, buffer, bytes.data()) == 1) return bytes;
  return std::nullopt;
}

bool Cidr::contains(const IpBytes& address) const {
  const unsigned whole_bytes = prefix / 8;
  if (std::memcmp(address.data(), network.data(), whole_bytes) != 0) return false;
  const unsigned rest_bits = prefix % 8;
  if (rest_bits == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest_bits));
  return (address[whole_bytes] & mask) == network[whole_bytes];
}

CidrParse parse_cidr(std::string_view text) {
  const size_t slash = text.find('/');
  const std::optional<IpBytes> address = parse_ip(text.substr(0, slash));
  if (!address) return failure(std::string(kCidrExpected));
  const bool v4 = is_v4_mapped(*address) && text.substr(0, slash).find(':') == std::string::npos;
  const unsigned family_bits = v4 ? 32 : 128;
  unsigned prefix = family_bits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return failure(std::string(kCidrExpected));
    prefix = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return failure(std::string(kCidrExpected));
      prefix = prefix * 10 + static_cast<unsigned>(c - '0');
    }
    if (prefix > family_bits) {
      return failure("the prefix length must be at most " + std::to_string(family_bits) +
                     (v4 ? " for an IPv4 range" : " for an IPv6 range"));
    }
  }
  Cidr cidr;
  cidr.prefix = static_cast<uint8_t>(prefix + (128 - family_bits));
  cidr.network = *address;
  for (unsigned bit = cidr.prefix; bit < 128; ++bit) {
    cidr.network[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  if (cidr.network != *address) {
    return failure("the address has bits set past its /" + std::to_string(prefix) +
                   " prefix (did you mean " + text_of(cidr.network) + "/" + std::to_string(prefix) +
                   "?)");
  }
  return {cidr, {}};
}

}  // namespace dispatch::config
