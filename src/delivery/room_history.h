// The messages a history room keeps (`history: {size, ttl}`, SPEC 4.3), on a single node: per
// room an epoch, the last offset and the last `size` frames, each with its offset. Process-wide
// and sharded by room like the Directory, each shard with its own mutex.
//
// The lock is also what orders a room's traffic: a message gets its offset, is kept and is handed
// to every loop (LoopDelivery::send_now, straight into their queues) while its room's lock is
// held, and a joining connection takes its replay and becomes a member under the same lock. So
// every loop sees the room's messages in offset order, and a replay and the live messages after
// it meet exactly (delivery/fanout.h, publish_to_history_room and join_with_history).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "clock/clock.h"
#include "delivery/directory.h"
#include "frames/out_frame.h"

namespace dispatch {

// A new epoch: 12 characters of [0-9a-z], so a restart (or a forgotten room) never reuses one a
// client may hold.
std::string new_epoch(std::mt19937_64& random);

struct HistoryLimits {
  uint32_t size = 0;
  std::chrono::milliseconds ttl{0};
};

// Where a client stands in a room's history.
struct HistoryPosition {
  uint64_t offset = 0;
  std::string epoch;
};

// What a read of a room's history found: its position, and the kept frames after the offset read
// from — consecutive offsets from `first_offset` when `complete` (none missing since then).
struct HistoryRead {
  HistoryPosition position;
  bool complete = true;
  uint64_t first_offset = 0;
  std::vector<FrameRef> frames;
};

// One room's kept messages; reached only under its shard's lock (RoomHistory::with_room).
class RoomLog {
 public:
  struct Entry {
    uint64_t offset;
    FrameRef frame;
    SteadyTime at;
  };

  RoomLog(std::string epoch, size_t loop_count, SteadyTime created)
      : epoch_(std::move(epoch)), in_flight_(loop_count), last_append_(created) {}

  const std::string& epoch() const { return epoch_; }
  uint64_t last_offset() const { return last_offset_; }
  HistoryPosition position() const { return {last_offset_, epoch_}; }
  const std::deque<Entry>& entries() const { return entries_; }

  uint64_t next_offset() const { return last_offset_ + 1; }
  // Keeps the frame of the next offset, within the limits (the oldest go first).
  void append(FrameRef frame, SteadyTime now, const HistoryLimits& limits);
  // Drops what is older than the ttl of the last append.
  void expire(SteadyTime now);
  // The frames after `offset`, when every one of them is still kept (false: a gap was lost).
  bool frames_after(uint64_t offset, std::vector<FrameRef>& out) const;
  // The offset after which the last `count` kept messages come (fewer when fewer are kept).
  uint64_t offset_before_last(uint64_t count) const;

  // History frames handed to a loop and not yet delivered there: while a loop has some, a
  // message published on that loop must queue behind them rather than be delivered at once.
  uint32_t& in_flight(unsigned loop) { return in_flight_[loop]; }
  // Nothing kept, nothing on its way to a loop, and no message since `cutoff`.
  bool forgettable(SteadyTime cutoff) const;

 private:
  std::string epoch_;
  uint64_t last_offset_ = 0;
  std::deque<Entry> entries_;
  std::vector<uint32_t> in_flight_;
  std::chrono::milliseconds ttl_{0};
  SteadyTime last_append_{};
};

class RoomHistory {
 public:
  // How long a room that keeps nothing any more still remembers its epoch and last offset, so
  // that a client returning after its messages expired learns it missed nothing new.
  static constexpr std::chrono::hours position_memory{24};

  explicit RoomHistory(size_t loop_count);

  // Calls visit(RoomLog&) with the room's lock held; creates the room's log (a new epoch) when
  // `create` and it has none. Returns visit's result, or nullopt when there is no log.
  template <typename Visit>
  auto with_room(std::string_view room, SteadyTime now, bool create, Visit visit)
      -> std::optional<decltype(visit(std::declval<RoomLog&>()))> {
    Shard& shard = shard_for(room);
    std::lock_guard lock(shard.mutex);
    RoomLog* log = find_or_create(shard, room, now, create);
    if (!log) return std::nullopt;
    return visit(*log);
  }

  // A loop delivered a history frame it was handed.
  void delivered(std::string_view room, unsigned loop);

  // Forgets expired messages and, after position_memory, rooms that keep none, in one of the
  // shards (the next one each call): a loop calls it now and then.
  void sweep_one_shard(SteadyTime now);
  size_t room_count() const;

 private:
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, RoomLog, StringHash, std::equal_to<>> rooms;
    std::mt19937_64 random;
  };
  static constexpr size_t shard_count = 64;

  RoomLog* find_or_create(Shard& shard, std::string_view room, SteadyTime now, bool create);
  Shard& shard_for(std::string_view key) const { return shards_[StringHash{}(key) % shard_count]; }

  size_t loop_count_;
  mutable std::array<Shard, shard_count> shards_;
  std::atomic<size_t> next_sweep_{0};
};

}  // namespace dispatch
