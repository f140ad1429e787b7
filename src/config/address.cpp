#include "config/address.h"

#include <algorithm>

namespace dispatch::config {

namespace {

constexpr std::string_view kAddressExpected =
    "expected host:port like \":8080\", \"127.0.0.1:8080\" or \"[::1]:8080\"";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_host_name_or_ipv4(std::string_view host) {
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return is_alnum(c) || c == '.' || c == '-' || c == '_'; });
}

// Inside the brackets: hex digits, ':' and '.' (an embedded IPv4), then an optional %zone.
bool is_ipv6_literal(std::string_view host) {
  const size_t zone = host.find('%');
  const std::string_view address = host.substr(0, zone);
  if (address.find(':') == std::string_view::npos) return false;
  if (!std::all_of(address.begin(), address.end(),
                   [](char c) { return is_hex(c) || c == ':' || c == '.'; })) {
    return false;
  }
  if (zone == std::string_view::npos) return true;
  const std::string_view zone_name = host.substr(zone + 1);
  return !zone_name.empty() && std::all_of(zone_name.begin(), zone_name.end(), [](char c) {
    return is_alnum(c) || c == '.' || c == '-' || c == '_';
  });
}

bool parse_port(std::string_view text, uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  if (!std::all_of(text.begin(), text.end(), is_digit)) return false;
  const unsigned long value = std::stoul(std::string(text));
  if (value > 65535) return false;
  port = static_cast<uint16_t>(value);
  return true;
}

ParseResult<ListenAddress> failure(std::string_view detail = {}) {
  std::string message(kAddressExpected);
  if (!detail.empty()) message += " (" + std::string(detail) + ")";
  return {std::nullopt, std::move(message)};
}

}  // namespace

ParseResult<ListenAddress> parse_listen_address(std::string_view text) {
  ListenAddress address;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return failure("no closing `]`");
    const std::string_view host = text.substr(1, close - 1);
    if (!is_ipv6_literal(host)) return failure("not an IPv6 address inside the brackets");
    if (close + 1 >= text.size() || text[close + 1] != ':') return failure("missing `:port`");
    address.host = std::string(host);
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      if (!text.empty() && std::all_of(text.begin(), text.end(), is_digit)) {
        return failure("did you mean `:" + std::string(text) + "`?");
      }
      return failure("missing `:port`");
    }
    const std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return failure("an IPv6 address needs brackets, like [::1]:8080");
    }
    if (!is_host_name_or_ipv4(host)) return failure("not a valid host");
    address.host = std::string(host);
    port_text = text.substr(colon + 1);
  }
  if (!parse_port(port_text, address.port)) return failure("the port must be 0 to 65535");
  return {std::move(address), {}};
}

}  // namespace dispatch::config
