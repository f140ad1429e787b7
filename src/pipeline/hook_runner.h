// One loop's lifecycle hooks (`hooks:`): told when a session opens, closes, joins or leaves a
// room, it takes a snapshot of who the session is and runs the hook's actions in a handler of
// their own on the loop (HookRun), after the fact: a hook never delays or fails a client's
// message, and its failure is counted and logged (debug; a warning at most every 10 s per
// loop), never sent to a client. A config without hooks costs a null test per open and close
// and nothing per join (the loop's LoopDelivery then has no MembershipWatcher).
//
// Order: a session's hooks run in the order they fired (one loop, FIFO handlers). A closing
// session's on_leave (one per room it was in) and on_disconnect run after it has left its rooms,
// so an on_leave `_notify_room` reaches the members that remain.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "clock/clock.h"
#include "delivery/membership_watcher.h"
#include "pipeline/hook.h"

namespace dispatch {

class CompiledConfig;
class Session;
class SessionContext;
class SessionLoop;
struct HookSubject;

class HookRunner final : public MembershipWatcher {
 public:
  HookRunner(SessionLoop& loop, SessionContext& sessions) : loop_(loop), sessions_(sessions) {}

  // A config was installed on the loop: joins and leaves are watched only when it has
  // on_join or on_leave.
  void install(const CompiledConfig& config);

  // After a session is open and its `welcome` queued: on_connect.
  void opened(Session& session);
  // When an open session ends, BEFORE it leaves its rooms: on_leave for each of them, then
  // on_disconnect.
  void closing(Session& session);

  // --- MembershipWatcher: on_join, on_leave
  void joined(Session& session, std::string_view room) override;
  void left(Session& session, std::string_view room) override;

 private:
  struct Call {
    Hook hook;
    std::string room;  // on_join, on_leave
  };
  // Runs the calls in order, with a snapshot of `session` taken now, in a handler of its own.
  void schedule(const std::shared_ptr<const CompiledConfig>& config, Session& session,
                std::vector<Call> calls);
  void run(const CompiledConfig& config, Hook hook, const HookSubject& subject,
           std::string_view room);

  SessionLoop& loop_;
  SessionContext& sessions_;
  // Warnings about failed hooks: at most one per interval, counting those not warned about.
  SteadyTime next_warning_{};
  uint64_t unwarned_failures_ = 0;
};

}  // namespace dispatch
