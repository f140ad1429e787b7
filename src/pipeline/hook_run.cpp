#include "pipeline/hook_run.h"

#include <fmt/format.h>

#include "delivery/fanout.h"
#include "delivery/loop_delivery.h"
#include "frames/server_frames.h"
#include "log/log.h"
#include "pipeline/compiled_config.h"
#include "pipeline/room_join.h"
#include "pipeline/room_publish.h"
#include "pipeline/session_loop.h"
#include "pipeline/step_payload.h"
#include "session/session.h"
#include "session/session_context.h"

namespace dispatch {

HookRun::HookRun(SessionLoop& loop, const SessionContext& sessions, Hook hook,
                 const HookSubject& subject, std::string_view room)
    : loop_(loop), sessions_(sessions), hook_(hook), subject_(subject), room_(room) {}

std::optional<HookRun::Failure> HookRun::run(const Pipeline& actions) {
  for (size_t i = 0; i < actions.steps.size(); ++i) {
    const StepStatus status = actions.steps[i]->run(*this);
    if (status == StepStatus::failed || failure_) {
      Failure failure;
      failure.code = failure_.value_or(ErrorCode::internal);
      failure.message = failure_ ? failure_message_ : "the step failed";
      failure.step = actions.step_names[i];
      return failure;
    }
    if (status == StepStatus::pending) {
      log::debug("hook step pending: the steps after it run without waiting")
          .field("hook", hook_name(hook_))
          .field("step", actions.step_names[i])
          .field("conn_id", subject_.conn_id);
    }
  }
  return std::nullopt;
}

Session* HookRun::live_session() const {
  for (Session* session : loop_.delivery().user_sessions(subject_.user_id)) {
    if (session->number() == subject_.session_number) {
      return session->is_open() ? session : nullptr;
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------- who and what

std::string_view HookRun::client_ip() const {
  if (client_ip_.empty()) client_ip_ = config::ip_text(subject_.client_ip);
  return client_ip_;
}

std::optional<std::string_view> HookRun::target() const {
  if (!hook_has_room(hook_)) return std::nullopt;
  return room_;
}

bool HookRun::is_member(std::string_view room) const {
  const Session* session = live_session();
  return session && session->is_member(room);
}

std::chrono::steady_clock::time_point HookRun::now() const {
  return sessions_.clock().now();
}

int64_t HookRun::unix_seconds() const {
  return sessions_.clock().unix_seconds();
}

boost::asio::any_io_executor HookRun::executor() const {
  return loop_.executor();
}

bool HookRun::fill(const Param& param, std::string& out) {
  std::string missing;
  if (static_cast<const tmpl::Template&>(param).fill(*this, out, &missing)) return true;
  fail(ErrorCode::missing_field, fmt::format("no value for `{}`", missing));
  return false;
}

bool HookRun::resolve(const tmpl::Placeholder& placeholder, tmpl::ResolvedValue& out) {
  using tmpl::Source;
  switch (placeholder.source) {
    case Source::user_id:
      out = {true, subject_.user_id};
      return true;
    case Source::conn_id:
      out = {true, subject_.conn_id};
      return true;
    case Source::event_name:
      out = {true, hook_name(hook_)};
      return true;
    case Source::room_id:
      if (!hook_has_room(hook_)) return false;
      out = {true, room_};
      return true;
    case Source::claim:
      for (const auth::NamedClaim& claim : subject_.claims) {
        if (claim.name == placeholder.claim) {
          out = {claim.value.is_string, claim.value.text};
          return true;
        }
      }
      return false;
    case Source::target_id:  // refused at load (hook_template_problem)
    case Source::payload:
      return false;
  }
  return false;
}

// ---------------------------------------------------------------- effects

void HookRun::reply(std::string_view event, std::string_view payload_json) {
  if (!accept_step_payload(*this, payload_json)) return;
  if (Session* session = live_session()) session->send(build_event_frame(event, payload_json));
}

void HookRun::send_to_origin(std::string_view event, std::string_view payload_json) {
  if (!accept_step_payload(*this, payload_json)) return;
  publish_to_user(loop_.delivery(), subject_.user_id, build_event_frame(event, payload_json));
}

// The hook is the config's own notice, not a client's message: a member_only_send policy (which
// keeps non-members from posting) does not apply, so on_leave reaches the room the user left.
void HookRun::send_to_target(std::string_view target, std::string_view event,
                             std::string_view payload_json) {
  if (!accept_step_payload(*this, payload_json)) return;
  FrameOrigin origin;
  origin.from = subject_.user_id;
  if (target.starts_with("user:")) {
    publish_to_user(loop_.delivery(), target.substr(5),
                    build_event_frame(event, payload_json, origin));
  } else {
    publish_room_message(loop_, target, event, payload_json, origin);  // a hook waits for nothing
  }
}

void HookRun::send_to_user(std::string_view user, std::string_view event,
                           std::string_view payload_json) {
  if (!accept_step_payload(*this, payload_json)) return;
  FrameOrigin origin;
  origin.from = subject_.user_id;
  publish_to_user(loop_.delivery(), user, build_event_frame(event, payload_json, origin));
}

void HookRun::broadcast(std::string_view event, std::string_view payload_json) {
  if (!accept_step_payload(*this, payload_json)) return;
  FrameOrigin origin;
  origin.from = subject_.user_id;
  publish_to_all(loop_.delivery(), build_event_frame(event, payload_json, origin));
}

// Only on_connect may join (checked at load). The policies are those of a `_join` the
// connection sent itself; a connection that closed before its on_connect ran joins nothing.
bool HookRun::join(std::string_view user, std::string_view room, bool this_connection_only) {
  Session* session = live_session();
  if (!session) return true;
  if (auto refusal = join_room(loop_, *session, user, room, this_connection_only)) {
    fail(refusal->code, std::move(refusal->message));
    return false;
  }
  return true;
}

void HookRun::leave(std::string_view user, std::string_view room) {
  leave_user_from_room(loop_.delivery(), user, room);
}

void HookRun::disconnect(std::string_view, std::string_view) {
  // Refused at load: hooks never close connections. A custom step that asks anyway fails.
  fail(ErrorCode::forbidden, "a hook cannot close connections");
}

void HookRun::log_info(std::string_view text) {
  auto line = log::info(text);
  line.field("event", hook_name(hook_))
      .field("user_id", subject_.user_id)
      .field("conn_id", subject_.conn_id);
  if (hook_has_room(hook_)) line.field("room", room_);
}

// ---------------------------------------------------------------- outcomes

StepStatus HookRun::fail(ErrorCode code, std::string message) {
  failure_ = code;
  failure_message_ = std::move(message);
  return StepStatus::failed;
}

StepStatus HookRun::fail_rate_limited(int64_t retry_after_ms) {
  return fail(ErrorCode::rate_limited,
              fmt::format("rate limit exceeded: retry in {} ms", retry_after_ms));
}

// A hook waits for nothing: the Completion of a step that goes pending leads nowhere (calling
// or dropping it does nothing), and the hook's later steps run at once.
Completion HookRun::defer() {
  return Completion();
}

}  // namespace dispatch
