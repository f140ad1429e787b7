// One run of a lifecycle hook's actions (`hooks.on_connect` ...): the StepContext its steps see
// and the TemplateScope its templates are filled from. There is no message: what a template may
// read is who the connection was ({$user.id}, {$conn.id}, {$token.<claim>}), the hook's name
// ({$event.name}) and, for on_join/on_leave, the room ({$room.id}, also the target of
// `_notify_room`). The connection is seen through a snapshot (HookSubject) taken when the
// hook fired, since it may have closed by the time the hook runs; what needs the live
// connection (`_reply`, `_join ... connection`) finds it by number on the loop, or does nothing.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "auth/jwt.h"
#include "config/cidr.h"
#include "dispatch/extension.h"
#include "pipeline/hook.h"
#include "template/template.h"

namespace dispatch {

class Session;
class SessionContext;
class SessionLoop;
struct Pipeline;

// Who a hook is about, copied from the session when the hook fired.
struct HookSubject {
  uint64_t session_number = 0;
  std::string user_id;
  std::string conn_id;
  config::IpBytes client_ip{};
  std::vector<std::string> permissions;
  std::vector<auth::NamedClaim> claims;  // those some template of the config reads
};

class HookRun final : public StepContext, public tmpl::TemplateScope {
 public:
  HookRun(SessionLoop& loop, const SessionContext& sessions, Hook hook, const HookSubject& subject,
          std::string_view room);

  // Runs every step. A failed step stops the rest; its failure is returned (code, message, step
  // name) for the caller to count and log, never sent to anyone. A step that goes pending is
  // left to finish on its own: the steps after it run at once (a hook waits for nothing).
  struct Failure {
    ErrorCode code = ErrorCode::internal;
    std::string message;
    std::string step;
  };
  std::optional<Failure> run(const Pipeline& actions);

  // --- StepContext
  std::string_view user_id() const override { return subject_.user_id; }
  std::string_view connection_id() const override { return subject_.conn_id; }
  std::string_view client_ip() const override;
  std::string_view event_name() const override { return hook_name(hook_); }
  std::optional<std::string_view> target() const override;
  const std::vector<std::string>& token_permissions() const override {
    return subject_.permissions;
  }
  bool is_member(std::string_view room) const override;
  std::chrono::steady_clock::time_point now() const override;
  int64_t unix_seconds() const override;
  boost::asio::any_io_executor executor() const override;
  bool fill(const Param& param, std::string& out) override;
  void reply(std::string_view event, std::string_view payload_json) override;
  void send_to_origin(std::string_view event, std::string_view payload_json) override;
  void send_to_target(std::string_view target, std::string_view event,
                      std::string_view payload_json) override;
  void send_to_user(std::string_view user, std::string_view event,
                    std::string_view payload_json) override;
  void broadcast(std::string_view event, std::string_view payload_json) override;
  bool join(std::string_view user, std::string_view room, bool this_connection_only) override;
  void leave(std::string_view user, std::string_view room) override;
  void disconnect(std::string_view user, std::string_view reason) override;
  void log_info(std::string_view text) override;
  StepStatus fail(ErrorCode code, std::string message) override;
  StepStatus fail_rate_limited(int64_t retry_after_ms) override;
  Completion defer() override;
  void hide_payload_token() override {}
  std::optional<std::string_view> payload_token() const override { return std::nullopt; }

  // --- TemplateScope
  bool resolve(const tmpl::Placeholder& placeholder, tmpl::ResolvedValue& out) override;

 private:
  // The connection the hook is about, while it is open on this loop; else nullptr.
  Session* live_session() const;

  SessionLoop& loop_;
  const SessionContext& sessions_;
  Hook hook_;
  const HookSubject& subject_;
  std::string_view room_;
  mutable std::string client_ip_;
  std::optional<ErrorCode> failure_;
  std::string failure_message_;
};

}  // namespace dispatch
