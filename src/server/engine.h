// What all event loops share: the loops themselves, the process-wide directory of rooms and
// users, the node id that makes connection ids unique across a cluster, cluster mode when
// configured, and global counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "delivery/directory.h"
#include "delivery/room_history.h"
#include "server/handshake_rate.h"
#include "server/peer_table.h"

namespace dispatch {

namespace cluster {
class ClusterNode;
}
class EventLoop;
class CompiledConfig;
struct ReloadResult;

// Reloads the config on the control thread and calls `done` there with the result.
using ReloadRequester = std::function<void(std::function<void(const ReloadResult&)> done)>;

class Engine {
 public:
  Engine(unsigned loop_count, std::shared_ptr<const CompiledConfig> config);
  ~Engine();

  unsigned loop_count() const { return static_cast<unsigned>(loops_.size()); }
  EventLoop& loop(unsigned index) { return *loops_[index]; }
  Directory& directory() { return directory_; }
  RoomHistory& history() { return history_; }
  const std::string& node_id() const { return node_id_; }
  // Cluster mode (`cluster.redis`); nullptr on a single node.
  cluster::ClusterNode* cluster() { return cluster_.get(); }
  // /readyz: a single node is ready once listening; a cluster node also needs all its Redis
  // connections. `why_not_ready` says what is missing (empty when ready).
  bool ready(std::string* why_not_ready = nullptr) const;

  uint64_t next_connection_number() {
    return next_connection_.fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<int64_t>& open_connections() { return open_connections_; }  // upgraded ones
  // Sockets whose request head has not arrived yet. With open_connections they count toward
  // server.max_connections: only the acceptor adds to it (on loop 0), checking the sum first. A
  // handshake leaves this count before it takes a place among the open connections, so the
  // acceptor may see one place too many for that instant; the place taken on upgrade is checked
  // against the limit again, so open connections never exceed it.
  std::atomic<int64_t>& handshaking() { return handshaking_; }
  // Static files being sent (server/static_download.h), bounded process-wide.
  std::atomic<int64_t>& downloads() { return downloads_; }
  // Per client IP: handshakes and downloads in flight.
  PeerTable& peers() { return peers_; }
  // auth.handshake_rate_per_ip, counted per client IP across every loop.
  HandshakeRate& handshake_rate() { return handshake_rate_; }
  std::atomic<int64_t>& live_connections() { return live_connections_; }  // every socket

  // The config in force: 1 at start, one more for each reload installed; and reloads by outcome
  // (written by the thread that reloads, read by /metrics).
  std::atomic<uint64_t>& config_version() { return config_version_; }
  std::atomic<uint64_t>& reloads_applied() { return reloads_applied_; }
  std::atomic<uint64_t>& reloads_refused() { return reloads_refused_; }
  // POST /api/reload: set once by serve() before the loops start; empty in tests without one.
  void set_reload_requester(ReloadRequester requester) { reload_requester_ = std::move(requester); }
  const ReloadRequester& reload_requester() const { return reload_requester_; }

  // Bytes queued for writing in the whole process, bounded by queued_bytes_cap: beyond it the
  // connection whose frame would exceed it is treated as a slow consumer. Loops publish their
  // share in steps (EventLoop::account_queued), so this lags each loop by at most a step.
  std::atomic<int64_t>& queued_bytes() { return queued_bytes_; }
  uint64_t queued_bytes_cap() const { return queued_bytes_cap_; }

 private:
  std::string node_id_;
  Directory directory_;
  RoomHistory history_;  // the kept messages of history rooms (single node)
  HandshakeRate handshake_rate_;
  PeerTable peers_;  // outlives the loops, whose connections refer to its entries
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::unique_ptr<cluster::ClusterNode> cluster_;  // refers to the loops: goes first
  std::atomic<uint64_t> next_connection_{1};
  std::atomic<int64_t> open_connections_{0};
  std::atomic<int64_t> live_connections_{0};
  std::atomic<int64_t> handshaking_{0};
  std::atomic<int64_t> downloads_{0};
  std::atomic<int64_t> queued_bytes_{0};
  std::atomic<uint64_t> config_version_{1};
  std::atomic<uint64_t> reloads_applied_{0};
  std::atomic<uint64_t> reloads_refused_{0};
  uint64_t queued_bytes_cap_;
  ReloadRequester reload_requester_;
};

}  // namespace dispatch
