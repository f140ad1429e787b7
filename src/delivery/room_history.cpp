#include "delivery/room_history.h"

#include <algorithm>
#include <cassert>

namespace dispatch {

std::string new_epoch(std::mt19937_64& random) {
  static constexpr char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string epoch(12, '0');
  for (char& c : epoch) c = alphabet[random() % (sizeof alphabet - 1)];
  return epoch;
}

void RoomLog::append(FrameRef frame, SteadyTime now, const HistoryLimits& limits) {
  ttl_ = limits.ttl;
  last_append_ = now;
  entries_.push_back({++last_offset_, std::move(frame), now});
  while (entries_.size() > limits.size) entries_.pop_front();
  expire(now);
}

void RoomLog::expire(SteadyTime now) {
  while (!entries_.empty() && now - entries_.front().at >= ttl_) entries_.pop_front();
}

bool RoomLog::frames_after(uint64_t offset, std::vector<FrameRef>& out) const {
  if (offset > last_offset_) return false;  // a position this log never had
  if (offset == last_offset_) return true;
  if (entries_.empty() || entries_.front().offset > offset + 1) return false;  // a gap is lost
  for (const Entry& entry : entries_) {
    if (entry.offset > offset) out.push_back(entry.frame);
  }
  return true;
}

uint64_t RoomLog::offset_before_last(uint64_t count) const {
  const uint64_t kept = entries_.size();
  return last_offset_ - std::min(count, kept);
}

bool RoomLog::forgettable(SteadyTime cutoff) const {
  if (!entries_.empty() || last_append_ > cutoff) return false;
  for (uint32_t count : in_flight_) {
    if (count > 0) return false;
  }
  return true;
}

RoomHistory::RoomHistory(size_t loop_count) : loop_count_(loop_count) {
  std::random_device seed;
  for (Shard& shard : shards_) {
    shard.random.seed((uint64_t{seed()} << 32) ^ seed());
  }
}

RoomLog* RoomHistory::find_or_create(Shard& shard, std::string_view room, SteadyTime now,
                                     bool create) {
  auto found = shard.rooms.find(room);
  if (found == shard.rooms.end()) {
    if (!create) return nullptr;
    found =
        shard.rooms.try_emplace(std::string(room), new_epoch(shard.random), loop_count_, now).first;
  }
  found->second.expire(now);
  return &found->second;
}

void RoomHistory::delivered(std::string_view room, unsigned loop) {
  Shard& shard = shard_for(room);
  std::lock_guard lock(shard.mutex);
  auto found = shard.rooms.find(room);
  if (found == shard.rooms.end()) return;
  uint32_t& count = found->second.in_flight(loop);
  assert(count > 0 && "a history frame delivered that was never handed over");
  if (count > 0) --count;
}

void RoomHistory::sweep_one_shard(SteadyTime now) {
  Shard& shard = shards_[next_sweep_.fetch_add(1, std::memory_order_relaxed) % shard_count];
  std::lock_guard lock(shard.mutex);
  for (auto it = shard.rooms.begin(); it != shard.rooms.end();) {
    it->second.expire(now);
    if (it->second.forgettable(now - position_memory)) {
      it = shard.rooms.erase(it);
    } else {
      ++it;
    }
  }
}

size_t RoomHistory::room_count() const {
  size_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += shard.rooms.size();
  }
  return total;
}

}  // namespace dispatch
