#include "transport/timer_wheel.h"

namespace dispatch {

int64_t TimerWheel::tick_of(SteadyTime time) const {
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(time - start_);
  // Round up so an entry never fires before its deadline.
  return (elapsed.count() + resolution.count() - 1) / resolution.count();
}

void TimerWheel::schedule(TimerEntry& entry, SteadyTime deadline) {
  entry.wheel_hook.unlink();
  entry.wheel_tick = std::max(tick_of(deadline), processed_tick_ + 1);
  slots_[static_cast<size_t>(entry.wheel_tick) % slot_count].push_back(entry);
}

void TimerWheel::advance(SteadyTime now) {
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - start_);
  const int64_t current = elapsed.count() / resolution.count();
  // After a long stall, one full turn visits every slot once.
  int64_t first = std::max(processed_tick_ + 1, current - static_cast<int64_t>(slot_count) + 1);
  for (int64_t tick = first; tick <= current; ++tick) {
    EntryList& slot = slots_[static_cast<size_t>(tick) % slot_count];
    EntryList due;
    for (auto it = slot.begin(); it != slot.end();) {
      TimerEntry& entry = *it;
      ++it;
      if (entry.wheel_tick <= current) {
        entry.wheel_hook.unlink();
        due.push_back(entry);
      }
    }
    processed_tick_ = tick;
    while (!due.empty()) {
      TimerEntry& entry = due.front();
      due.pop_front();
      entry.on_timer(now);
    }
  }
  processed_tick_ = std::max(processed_tick_, current);
}

}  // namespace dispatch
