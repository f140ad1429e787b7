#include "server/client_address.h"

#include <cctype>
#include <optional>

namespace dispatch {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// "192.0.2.1", "192.0.2.1:4711", "2001:db8::1" or "[2001:db8::1]:4711".
std::optional<PeerAddress> parse_entry(std::string_view entry) {
  entry = trim(entry);
  if (entry.starts_with('[')) {
    const size_t close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    entry = entry.substr(1, close - 1);
  } else if (const size_t colon = entry.find(':');
             colon != std::string_view::npos &&
             entry.find(':', colon + 1) == std::string_view::npos) {
    entry = entry.substr(0, colon);  // IPv4 with a port
  }
  const auto bytes = config::parse_ip(entry);
  if (!bytes) return std::nullopt;
  PeerAddress address;
  address.bytes = *bytes;
  return address;
}

}  // namespace

bool is_trusted_proxy(const PeerAddress& address, const std::vector<config::Cidr>& trusted) {
  for (const config::Cidr& range : trusted) {
    if (range.contains(address.bytes)) return true;
  }
  return false;
}

std::string forwarded_for_header(std::string_view head) {
  std::string joined;
  size_t line_start = head.find("\r\n");
  while (line_start != std::string_view::npos) {
    line_start += 2;
    const size_t line_end = head.find("\r\n", line_start);
    const std::string_view line = head.substr(line_start, line_end - line_start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), "x-forwarded-for")) {
      if (!joined.empty()) joined += ',';
      joined += trim(line.substr(colon + 1));
    }
    line_start = line_end;
  }
  return joined;
}

PeerAddress client_address(const PeerAddress& tcp_peer, std::string_view forwarded_for,
                           const std::vector<config::Cidr>& trusted) {
  if (trusted.empty() || !is_trusted_proxy(tcp_peer, trusted)) return tcp_peer;
  std::vector<PeerAddress> entries;
  while (true) {
    const size_t comma = forwarded_for.find(',');
    const std::string_view entry = forwarded_for.substr(0, comma);
    if (!trim(entry).empty() || comma != std::string_view::npos) {
      auto address = parse_entry(entry);
      if (!address) return tcp_peer;  // malformed: trust none of it
      entries.push_back(*address);
    }
    if (comma == std::string_view::npos) break;
    forwarded_for.remove_prefix(comma + 1);
  }
  if (entries.empty()) return tcp_peer;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (!is_trusted_proxy(*it, trusted)) return *it;
  }
  return entries.front();  // every hop is a trusted proxy: the farthest one
}

}  // namespace dispatch
