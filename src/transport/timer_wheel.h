// A per-loop hashed timer wheel: every connection has one deadline (the earliest of its ping,
// pong, read, handshake, close and token-expiry times) and sits in one slot of the wheel, linked
// through an intrusive hook — no timer object, no allocation per connection. One steady_timer
// per loop ticks the wheel. Entries whose deadline is further than one turn of the wheel stay
// in their slot and are skipped until their turn comes (cheap: they are few and rarely due).
#pragma once

#include <boost/intrusive/list.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

#include "clock/clock.h"

namespace dispatch {

class TimerEntry {
 public:
  virtual ~TimerEntry() = default;
  // Called on the loop when the deadline has passed; reschedule from here if still needed.
  virtual void on_timer(SteadyTime now) = 0;

  boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>
      wheel_hook;
  int64_t wheel_tick = 0;
};

class TimerWheel {
 public:
  static constexpr std::chrono::milliseconds resolution{50};
  static constexpr size_t slot_count = 1024;

  explicit TimerWheel(SteadyTime start) : start_(start), slots_(slot_count) {}

  // (Re)schedules the entry to fire at or shortly after `deadline`.
  void schedule(TimerEntry& entry, SteadyTime deadline);
  static void cancel(TimerEntry& entry) { entry.wheel_hook.unlink(); }

  // Fires every entry due by `now`.
  void advance(SteadyTime now);

 private:
  using EntryList = boost::intrusive::list<
      TimerEntry,
      boost::intrusive::member_hook<TimerEntry, decltype(TimerEntry::wheel_hook),
                                    &TimerEntry::wheel_hook>,
      boost::intrusive::constant_time_size<false>>;

  int64_t tick_of(SteadyTime time) const;

  SteadyTime start_;
  int64_t processed_tick_ = 0;
  std::vector<EntryList> slots_;
};

}  // namespace dispatch
