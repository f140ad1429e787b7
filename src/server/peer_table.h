// What each client IP (the TCP peer address) holds right now, process-wide: sockets still in
// their handshake and static-file downloads in progress. The acceptor and every loop consult it,
// so it is one mutex-guarded hash map; it is touched once when a socket is accepted and once
// when its handshake or download ends, never per message. An entry lives while it counts
// anything (the holder keeps a pointer to it: unordered_map nodes do not move) and is erased at
// zero, so the table is as large as the set of IPs with something in flight.
//
// auth.max_connections_per_ip counts open connections here too (only when it is set), touched
// once at the upgrade and once at the close. A handshake rate per IP would add a field to
// PeerEntry and a method beside try_begin_handshake().
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace dispatch {

// An IPv4 or IPv6 address as 16 bytes (IPv4 as ::ffff:a.b.c.d, as the kernel maps it).
struct PeerAddress {
  std::array<uint8_t, 16> bytes{};

  static PeerAddress from(const sockaddr_storage& address);
  std::string text() const;  // for the log
  bool operator==(const PeerAddress&) const = default;
};

struct PeerAddressHash {
  size_t operator()(const PeerAddress& address) const;
};

struct PeerEntry {
  PeerAddress address;       // its key in the table; set once when the entry is made
  uint32_t handshakes = 0;   // sockets of this IP whose request head has not arrived yet
  uint32_t downloads = 0;    // static files being sent to this IP
  uint32_t connections = 0;  // open WebSocket connections (counted only under a limit)
};

class PeerTable {
 public:
  // Counts one more handshake for the address, unless it already has `limit` (0 = no limit):
  // then returns nullptr. The pointer stays valid until end_handshake().
  PeerEntry* try_begin_handshake(const PeerAddress& address, uint32_t limit);
  void end_handshake(PeerEntry* entry);

  // Counts one more download for an entry the caller holds (a handshake), unless it has `limit`.
  bool try_begin_download(PeerEntry* entry, uint32_t limit);
  void end_download(PeerEntry* entry);

  // Counts one more open connection for the address (auth.max_connections_per_ip), unless it
  // already has `limit` (> 0): then returns nullptr. Valid until end_connection().
  PeerEntry* try_begin_connection(const PeerAddress& address, uint32_t limit);
  void end_connection(PeerEntry* entry);

  size_t size() const;

 private:
  void erase_if_unused(PeerEntry* entry);  // with mutex_ held

  mutable std::mutex mutex_;
  std::unordered_map<PeerAddress, PeerEntry, PeerAddressHash> entries_;
};

}  // namespace dispatch
