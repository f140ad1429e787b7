// Cluster mode on one node (SPEC 6). Per Redis shard it holds two connections — one to publish,
// one to subscribe — both driven by the event loop that owns the shard (shard i on loop
// i % loops), so a shard's traffic never crosses a lock. Every loop has a ClusterBroker that
// publishes what fan-out hands it, through the owning loop when that is another one.
//
// The node subscribes to exactly the channels of the rooms and users it has connections for:
// the Directory tells it when the first member of a room (or the first connection of a user)
// arrives or the last one goes, and the owning loop then brings the subscription up to date
// from the Directory's current state (so changes from several loops, in any order, end right).
// Everyone's channel is always subscribed. What arrives from other nodes is delivered with the
// node-local fan-out; what the node published itself comes back and is dropped by origin id.
//
// When a shard is unreachable the node keeps serving: local delivery goes on, its publishes to
// that shard are counted as lost, `/readyz` says not ready, and the Redis client reconnects and
// subscribes again by itself.
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cluster/answer_waits.h"
#include "cluster/redis_names.h"
#include "cluster/wire_message.h"
#include "config/config.h"
#include "delivery/broker.h"
#include "delivery/directory.h"

namespace dispatch {
class LoopDelivery;
}

namespace dispatch::cluster {

class ClusterBroker;

// A connection to admit under the cluster-wide limits (auth.connection_limit.max_per_user, with
// reject or cycle, and auth.max_connections_per_ip).
struct Admission {
  std::string connection;  // its id, "<node id>-<number>"
  std::string user;        // "" = not counted per user (anonymous)
  uint32_t max_per_user = 0;
  bool cycle = false;
  std::string ip;  // "" = not counted per IP
  uint32_t max_per_ip = 0;
};

struct AdmissionAnswer {
  enum class Outcome {
    admitted,
    user_full,  // the user is at max_per_user (reject)
    ip_full,    // the client IP is at max_connections_per_ip
    undecided,  // Redis could not be asked: the node decides alone (node-local limits)
  };
  Outcome outcome = Outcome::undecided;
  std::string replaced;  // cycle: the id of the connection to close, wherever it is
};

// What the node needs of each event loop: its io_context (the Redis clients of the shards it
// owns run there) and its delivery tables.
struct NodeLoop {
  boost::asio::io_context* io = nullptr;
  LoopDelivery* delivery = nullptr;
};

// Cluster traffic counted since start (/metrics).
struct ClusterCounters {
  std::atomic<uint64_t> published{0};  // messages handed to Redis
  std::atomic<uint64_t> lost{0};       // not handed: their shard was unreachable
  std::atomic<uint64_t> received{0};   // from other nodes, delivered here
  std::atomic<uint64_t> refused{0};    // unreadable (another format version, cut short)
};

class ClusterNode final : public PresenceListener {
 public:
  ClusterNode(const config::ClusterConfig& config, std::string node_id, Directory& directory,
              std::vector<NodeLoop> loops);
  // After the loops have stopped running, before their io_contexts go away.
  ~ClusterNode();
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // Connects every shard (on its loop; callable before the loops run).
  void start();
  Broker& broker(unsigned loop);

  // Every Redis connection is up (any thread). Otherwise the reason names the shards that are not.
  bool ready() const;
  std::string not_ready_reason() const;
  size_t shard_count() const { return shards_.size(); }
  bool shard_up(size_t shard) const;
  ClusterCounters& counters() { return counters_; }

  const std::string& node_id() const { return node_id_; }
  const RedisNames& names() const { return names_; }
  unsigned owner_loop(uint32_t shard) const { return static_cast<unsigned>(shard % loops_.size()); }

  // PresenceListener: on the thread of the loop that made the change.
  void room_presence_changed(std::string_view room) override;
  void user_presence_changed(std::string_view user) override;
  void room_user_changed(std::string_view room, std::string_view user) override;

  // --- requests answered by the other nodes (cluster/answer_waits.h). Registers a wait, bounded
  // by answer_deadline on the calling loop's timer, and returns its number for the request;
  // `done` is called once, from any thread.
  uint32_t await_answers(unsigned loop, AnswerWaits::Done done);
  static constexpr std::chrono::milliseconds answer_deadline{1000};
  // GET /api/rooms/{id}: the members of the room on the other nodes; `done` runs on `loop`.
  void query_room(unsigned loop, std::string room,
                  std::function<void(std::vector<RoomMember>)> done);

  // --- cluster-wide limits. Callable on any loop's thread; each asks the Redis shard of the
  // user, IP or key on that shard's loop. admit's `done` runs on `loop`.
  // Also subscribes to the user's channel first (see admit in cluster_limits.cpp); the caller
  // calls end_admission(user) once the connection is accepted or refused.
  void admit(unsigned loop, Admission admission, std::function<void(AdmissionAnswer)> done);
  void end_admission(const std::string& user);
  // The connection closed (or was refused after admit): it stops counting.
  void release(const Admission& admission);
  // rate_limit across the cluster: `done` (any thread) gets 0 when the hit passes, the
  // milliseconds to wait when it does not, or nothing when Redis could not be asked.
  void rate_hit(std::string key, uint32_t limit, std::chrono::milliseconds window,
                std::function<void(std::optional<int64_t>)> done);
  // A room's max_members across the cluster (Broker::admit_room_user).
  void admit_room_user(std::string room, std::string user, uint32_t max_members,
                       std::function<void(std::optional<bool>)> done);
  // A presence room's users and connections on every live node (Broker::room_presence).
  void room_presence(std::string room, std::function<void(std::optional<RoomPresence>)> done);
  // --- history rooms (cluster/cluster_history.cpp; Broker::publish_history, read_history)
  using HistoryDone = std::function<void(std::optional<uint64_t>)>;
  // On the shard's owner loop.
  void publish_history(uint32_t shard, std::string room, std::string json_prefix,
                       HistoryLimits limits, HistoryDone done);
  // Any thread.
  void read_history(std::string room, uint64_t since, std::chrono::milliseconds ttl,
                    std::function<void(std::optional<HistoryRead>)> done);
  void read_last_history(std::string room, uint32_t last, std::chrono::milliseconds ttl,
                         std::function<void(std::optional<HistoryRead>)> done);
  // Closes the connection with this id (cycle), on this node or another; from `loop`.
  void close_connection(unsigned loop, const std::string& user, std::string_view connection,
                        uint16_t code, std::string_view reason);

  // --- on the owning loop of the shard (ClusterBroker brings the calls there)
  // PUBLISH. With a `request` (await_answers), PUBLISH's count of receiving nodes is how many
  // answers to wait for (this node counts its own request coming back as its answer).
  void publish(uint32_t shard, std::string channel, std::string message, uint32_t request = 0);
  bool room_reachable(std::string_view room);
  void when_room_reachable(std::string_view room, std::function<void()> reachable);

 private:
  struct Shard;

  void follow_room(const std::string& room);
  void follow_user(const std::string& user);
  void follow(Shard& shard, const std::string& channel, bool wanted);
  void on_message(Shard& shard, std::string_view channel, std::string_view message);
  void on_shard(uint32_t shard, std::function<void(Shard&)> work);  // posted to its loop
  void read_history_from(std::string room, uint64_t since, uint32_t last,
                         std::chrono::milliseconds ttl,
                         std::function<void(std::optional<HistoryRead>)> done);
  void heartbeat(Shard& shard);
  void renew_lease(Shard& shard);
  void restate(Shard& shard);  // after a (re)connect: the lease and the room users, again
  void write_room_user(Shard& shard, const std::string& room, const std::string& user);
  void close_local_session(unsigned loop, const std::string& user, uint64_t number, uint16_t code,
                           std::string_view reason);
  void answer(std::string origin, uint32_t request, std::string body = {});  // any thread
  void answer_room_query(std::string origin, uint32_t request, std::string room);
  void on_history_frame(Shard& shard, const WireMessage& message);
  // The room has no members here any more: nothing of it will be delivered here.
  void forget_history_room(Shard& shard, const std::string& room);

  std::string node_id_;
  Directory& directory_;
  std::vector<NodeLoop> loops_;
  RedisNames names_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::unique_ptr<ClusterBroker>> brokers_;
  std::chrono::milliseconds node_lease_;
  ClusterCounters counters_;
  AnswerWaits answer_waits_;
};

}  // namespace dispatch::cluster
