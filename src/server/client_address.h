// Who a client is, for the per-IP limits: the TCP peer address, unless that peer is one of
// server.trusted_proxies — then the X-Forwarded-For header names it. Read from the right: each
// proxy appends the address it got the request from, so the rightmost address that is not
// itself a trusted proxy is the first one no trusted party vouches for. A header that does not
// parse (any entry not an address) is ignored: the TCP peer is used. Untrusted peers' headers
// are never read, so a client cannot claim to be someone else.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/cidr.h"
#include "server/peer_table.h"

namespace dispatch {

bool is_trusted_proxy(const PeerAddress& address, const std::vector<config::Cidr>& trusted);

// The values of every X-Forwarded-For line of a request head, joined with ",".
std::string forwarded_for_header(std::string_view request_head);

PeerAddress client_address(const PeerAddress& tcp_peer, std::string_view forwarded_for,
                           const std::vector<config::Cidr>& trusted);

}  // namespace dispatch
