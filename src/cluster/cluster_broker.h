// The Broker of one event loop in cluster mode (delivery/broker.h): builds the wire message once
// (cluster/wire_message.h) and hands it to the loop that owns the target's Redis shard — at once
// when that is this loop, else in this turn's batch for that loop, whose FIFO keeps one sender's
// messages in order all the way to Redis.
#pragma once

#include <cstdint>
#include <string>

#include "delivery/broker.h"

namespace dispatch {
class LoopDelivery;
}

namespace dispatch::cluster {

class ClusterNode;

class ClusterBroker final : public Broker {
 public:
  ClusterBroker(ClusterNode& node, unsigned loop, LoopDelivery& delivery)
      : node_(node), loop_(loop), delivery_(delivery) {}

  void to_room(std::string_view room, const FrameRef& frame) override;
  void to_user(std::string_view user, const FrameRef& frame) override;
  void to_all(const FrameRef& frame) override;
  void join_user(std::string_view user, std::string_view room, bool counts_users,
                 std::function<void()> joined_everywhere) override;
  void leave_user(std::string_view user, std::string_view room) override;
  void close_user(std::string_view user, uint16_t code, std::string_view reason) override;
  bool room_reachable(std::string_view room) override;
  void when_room_reachable(std::string_view room, std::function<void()> reachable) override;
  void rate_hit(std::string key, uint32_t limit, std::chrono::milliseconds window,
                std::function<void(std::optional<int64_t>)> done) override;
  void admit_room_user(std::string room, std::string user, uint32_t max_members,
                       std::function<void(std::optional<bool>)> done) override;
  void room_presence(std::string room,
                     std::function<void(std::optional<RoomPresence>)> done) override;
  void publish_history(std::string room, std::string json_prefix, HistoryLimits limits,
                       std::function<void(std::optional<uint64_t>)> done) override;
  void read_history(std::string room, uint64_t since, std::chrono::milliseconds ttl,
                    std::function<void(std::optional<HistoryRead>)> done) override;
  void read_last_history(std::string room, uint32_t last, std::chrono::milliseconds ttl,
                         std::function<void(std::optional<HistoryRead>)> done) override;
  void run(ToBroker& task) override;

 private:
  enum TaskKind : uint8_t { publish_task, reachable_task, run_task };
  void publish(uint32_t shard, std::string channel, std::string message, uint32_t request = 0);

  ClusterNode& node_;
  unsigned loop_;
  LoopDelivery& delivery_;
};

}  // namespace dispatch::cluster
