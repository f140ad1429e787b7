#include "server/peer_table.h"

#include "config/cidr.h"

#include <arpa/inet.h>

#include <cstring>
#include <functional>
#include <string_view>

namespace dispatch {

PeerAddress PeerAddress::from(const sockaddr_storage& address) {
  PeerAddress peer;
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    std::memcpy(peer.bytes.data(), &v6.sin6_addr, 16);
  } else if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    peer.bytes[10] = peer.bytes[11] = 0xff;
    std::memcpy(peer.bytes.data() + 12, &v4.sin_addr, 4);
  }
  return peer;
}

std::string PeerAddress::text() const {
  return config::ip_text(bytes);
}

size_t PeerAddressHash::operator()(const PeerAddress& address) const {
  return std::hash<std::string_view>()(
      std::string_view(reinterpret_cast<const char*>(address.bytes.data()), address.bytes.size()));
}

PeerEntry* PeerTable::try_begin_handshake(const PeerAddress& address, uint32_t limit) {
  std::lock_guard lock(mutex_);
  // The address is written once, when the entry is made: holders on other threads read it
  // without the lock (Connection reads its handshake entry's address).
  auto [found, made] = entries_.try_emplace(address);
  PeerEntry& entry = found->second;
  if (made) entry.address = address;
  if (limit > 0 && entry.handshakes >= limit) {
    erase_if_unused(&entry);
    return nullptr;
  }
  ++entry.handshakes;
  return &entry;
}

void PeerTable::end_handshake(PeerEntry* entry) {
  std::lock_guard lock(mutex_);
  --entry->handshakes;
  erase_if_unused(entry);
}

bool PeerTable::try_begin_download(PeerEntry* entry, uint32_t limit) {
  std::lock_guard lock(mutex_);
  if (limit > 0 && entry->downloads >= limit) return false;
  ++entry->downloads;
  return true;
}

void PeerTable::end_download(PeerEntry* entry) {
  std::lock_guard lock(mutex_);
  --entry->downloads;
  erase_if_unused(entry);
}

PeerEntry* PeerTable::try_begin_connection(const PeerAddress& address, uint32_t limit) {
  std::lock_guard lock(mutex_);
  // The address is written once, when the entry is made: holders on other threads read it
  // without the lock (Connection reads its handshake entry's address).
  auto [found, made] = entries_.try_emplace(address);
  PeerEntry& entry = found->second;
  if (made) entry.address = address;
  if (entry.connections >= limit) {
    erase_if_unused(&entry);
    return nullptr;
  }
  ++entry.connections;
  return &entry;
}

void PeerTable::end_connection(PeerEntry* entry) {
  std::lock_guard lock(mutex_);
  --entry->connections;
  erase_if_unused(entry);
}

size_t PeerTable::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void PeerTable::erase_if_unused(PeerEntry* entry) {
  if (entry->handshakes > 0 || entry->downloads > 0 || entry->connections > 0) return;
  const PeerAddress address = entry->address;  // a copy: the key must outlive the erase
  entries_.erase(address);
}

}  // namespace dispatch
