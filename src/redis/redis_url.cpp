#include "redis/redis_url.h"

#include <boost/url/parse.hpp>

#include <charconv>

namespace dispatch::redis {

std::string RedisUrl::display() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

std::variant<RedisUrl, std::string> parse_redis_url(std::string_view text) {
  const auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return std::string("not a URL: write redis://[:password@]host[:port][/db]");
  const boost::urls::url_view& url = *parsed;
  if (url.scheme() != "redis") {
    return std::string(url.scheme() == "rediss"
                           ? "rediss:// (TLS) is not supported: use redis:// on a private network"
                           : "the scheme must be redis://");
  }
  if (!url.has_authority() || url.host().empty()) return std::string("the host is missing");
  if (url.has_query() || url.has_fragment()) {
    return std::string("a query (?…) or fragment (#…) is not supported: write the db as /<n>");
  }
  RedisUrl result;
  result.host = url.host_type() == boost::urls::host_type::ipv6 ? std::string(url.host_address())
                                                                : std::string(url.host());
  if (url.has_port()) {
    const std::string_view port = url.port();
    unsigned value = 0;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || error != std::errc() || end != port.data() + port.size() || value == 0 ||
        value > 65535) {
      return std::string("the port must be 1 to 65535");
    }
    result.port = static_cast<uint16_t>(value);
  }
  if (url.has_userinfo()) {
    result.username = url.user();
    result.password = url.password();
    if (!url.has_password()) {  // redis://secret@host: the userinfo is the password
      result.password = result.username;
      result.username.clear();
    }
  }
  std::string_view path = url.encoded_path();
  if (!path.empty() && path != "/") {
    path.remove_prefix(1);
    unsigned db = 0;
    const auto [end, error] = std::from_chars(path.data(), path.data() + path.size(), db);
    if (path.empty() || error != std::errc() || end != path.data() + path.size()) {
      return std::string("the path is the database number (redis://host:6379/2)");
    }
    result.db = db;
  }
  return result;
}

}  // namespace dispatch::redis
