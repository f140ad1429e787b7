// `server.address`: where the server listens, as host:port.
//   ":8080"           all interfaces (host "")
//   "127.0.0.1:8080"  an IPv4 address or a host name ("localhost:0" picks a free port)
//   "[::1]:8080"      an IPv6 address, in brackets (the host is kept without them)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config/units.h"

namespace dispatch::config {

// ListenAddress is in config/config.h (server.address and server.admin_address hold one).
ParseResult<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace dispatch::config
