#include "config/webhook_url.h"

#include <algorithm>

#include "config/address.h"

namespace dispatch::config {

namespace {

ParseResult<WebhookUrl> failure(std::string_view detail) {
  return {std::nullopt,
          "expected an URL like \"http://127.0.0.1:9000/dispatch\" (" + std::string(detail) + ")"};
}

bool is_path_char(char c) {
  return c > 0x20 && c < 0x7f && c != '#';
}

}  // namespace

ParseResult<WebhookUrl> parse_webhook_url(std::string_view text) {
  constexpr std::string_view scheme = "http://";
  if (text.starts_with("https://")) {
    return failure(
        "https:// is not supported yet: this version has no TLS client; POST to a "
        "local http:// relay");
  }
  if (!text.starts_with(scheme)) return failure("it must start with http://");
  std::string_view rest = text.substr(scheme.size());
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  WebhookUrl url;
  if (slash != std::string_view::npos) {
    const std::string_view path = rest.substr(slash);
    if (!std::all_of(path.begin(), path.end(), is_path_char)) {
      return failure("the path may not hold spaces, control characters or a #fragment");
    }
    url.path = std::string(path);
  }
  if (authority.empty()) return failure("no host");
  if (authority.find('@') != std::string_view::npos) {
    return failure("no user:password@ in the URL; use the target's `secret`");
  }
  const bool has_port = authority.starts_with('[') ? authority.find("]:") != std::string_view::npos
                                                   : authority.find(':') != std::string_view::npos;
  const std::string with_port = has_port ? std::string(authority) : std::string(authority) + ":80";
  auto address = parse_listen_address(with_port);
  if (!address) {
    if (authority.starts_with('[')) return failure("not a valid [IPv6]:port");
    return failure("not a valid host:port");
  }
  if (address.value->host.empty()) return failure("no host");
  if (address.value->port == 0) return failure("the port must be 1 to 65535");
  url.host = address.value->host;
  url.port = address.value->port;
  return {std::move(url), {}};
}

}  // namespace dispatch::config
