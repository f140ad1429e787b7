#include "pipeline/hook_runner.h"

#include <boost/asio/post.hpp>

#include <chrono>
#include <utility>

#include "delivery/loop_delivery.h"
#include "log/log.h"
#include "pipeline/compiled_config.h"
#include "pipeline/hook_run.h"
#include "pipeline/session_loop.h"
#include "session/session.h"
#include "session/session_context.h"

namespace dispatch {

namespace {

constexpr std::chrono::seconds kWarningInterval{10};
static_assert(kHookCount == metrics::kHookSlots, "LoopMetrics::hook_runs counts every hook");

// Who the session is, for hooks that may run after it is gone.
std::shared_ptr<const HookSubject> snapshot(const CompiledConfig& config, const Session& session) {
  auto subject = std::make_shared<HookSubject>();
  subject->session_number = session.number();
  subject->user_id = session.user_id();
  subject->conn_id = session.id();
  subject->client_ip = session.client_ip();
  subject->permissions = session.permissions();
  for (const std::string& name : config.wanted_claims()) {
    if (const auth::ClaimValue* value = session.claim(name)) {
      subject->claims.push_back({name, *value});
    }
  }
  return subject;
}

}  // namespace

void HookRunner::install(const CompiledConfig& config) {
  loop_.delivery().set_membership_watcher(config.has_membership_hooks() ? this : nullptr);
}

void HookRunner::opened(Session& session) {
  const std::shared_ptr<const CompiledConfig>& config = loop_.config_ptr();
  if (!config->hook(Hook::on_connect)) return;
  schedule(config, session, {{Hook::on_connect, {}}});
}

void HookRunner::closing(Session& session) {
  const std::shared_ptr<const CompiledConfig>& config = loop_.config_ptr();
  const bool leave_hook = config->hook(Hook::on_leave) != nullptr;
  const bool disconnect_hook = config->hook(Hook::on_disconnect) != nullptr;
  if (!leave_hook && !disconnect_hook) return;
  std::vector<Call> calls;
  if (leave_hook) {
    for (const LocalRoom* room : session.rooms()) calls.push_back({Hook::on_leave, room->name});
  }
  if (disconnect_hook) calls.push_back({Hook::on_disconnect, {}});
  if (calls.empty()) return;  // on_leave only, and it was in no room
  schedule(config, session, std::move(calls));
}

void HookRunner::joined(Session& session, std::string_view room) {
  const std::shared_ptr<const CompiledConfig>& config = loop_.config_ptr();
  if (!config->hook(Hook::on_join)) return;
  schedule(config, session, {{Hook::on_join, std::string(room)}});
}

void HookRunner::left(Session& session, std::string_view room) {
  const std::shared_ptr<const CompiledConfig>& config = loop_.config_ptr();
  if (!config->hook(Hook::on_leave)) return;
  schedule(config, session, {{Hook::on_leave, std::string(room)}});
}

// In a handler of its own: after the message (or close) that set the hook off is done, so a
// hook sees the session's rooms as that left them and cannot interleave with its steps.
void HookRunner::schedule(const std::shared_ptr<const CompiledConfig>& config, Session& session,
                          std::vector<Call> calls) {
  boost::asio::post(loop_.executor(),
                    [this, config, subject = snapshot(*config, session), calls = std::move(calls)] {
                      for (const Call& call : calls) run(*config, call.hook, *subject, call.room);
                    });
}

void HookRunner::run(const CompiledConfig& config, Hook hook, const HookSubject& subject,
                     std::string_view room) {
  const Pipeline* actions = config.hook(hook);
  if (!actions) return;
  auto& outcomes = sessions_.metrics().hook_runs[static_cast<size_t>(hook)];
  HookRun hook_run(loop_, sessions_, hook, subject, room);
  const std::optional<HookRun::Failure> failure = hook_run.run(*actions);
  if (!failure) {
    outcomes[0].add();
    return;
  }
  outcomes[1].add();
  // Every failure at debug; a warning at most every kWarningInterval, saying how many failed
  // since the last one (a hook that fails for every connection must not flood the log).
  const SteadyTime now = sessions_.clock().now();
  const bool warn = now >= next_warning_;
  log::Line line(warn ? log::Level::warn : log::Level::debug, "hook failed");
  line.field("hook", hook_name(hook))
      .field("step", failure->step)
      .field("code", wire_name(failure->code))
      .field("reason", failure->message)
      .field("user_id", subject.user_id)
      .field("conn_id", subject.conn_id);
  if (hook_has_room(hook)) line.field("room", room);
  if (warn) {
    line.field("failed_since_last_warning", unwarned_failures_);
    unwarned_failures_ = 0;
    next_warning_ = now + kWarningInterval;
  } else {
    ++unwarned_failures_;
  }
}

}  // namespace dispatch
