// A Redis server's address as `cluster.redis` writes it: redis://[[user]:password@]host[:port][/db]
// (port 6379 and db 0 by default; an IPv6 host in brackets). Only redis:// — no TLS (hiredis 0.14
// in Debian 12 has none).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace dispatch::redis {

struct RedisUrl {
  std::string host;
  uint16_t port = 6379;
  std::string username;  // "" = AUTH with the password alone (Redis before ACLs, or `default`)
  std::string password;  // "" = no AUTH; never log it
  uint32_t db = 0;

  bool operator==(const RedisUrl&) const = default;
  // "host:port/db", without credentials: for logs and errors.
  std::string display() const;
};

// The URL, or a sentence saying what is wrong with it (without echoing a password).
std::variant<RedisUrl, std::string> parse_redis_url(std::string_view text);

}  // namespace dispatch::redis
