#include "server/admission.h"

#include "config/config.h"
#include "delivery/delivery_task.h"
#include "pipeline/compiled_config.h"
#include "protocol/websocket.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "template/json_escape.h"

namespace dispatch {

UpgradeRefusal user_limit_refusal() {
  return {429, "too_many_connections",
          "this user already has auth.connection_limit.max_per_user connections: close one first",
          true, 4429};
}

UpgradeRefusal ip_limit_refusal() {
  return {429, "too_many_connections_per_ip",
          "this client IP already has auth.max_connections_per_ip connections: close one first",
          true, 4429};
}

std::string_view token_user(const UpgradeDecision& decision) {
  return decision.accepted ? std::string_view(decision.accepted->token.subject) : "";
}

std::optional<AcceptedIdentity> admit_session(UpgradeDecision& decision, EventLoop& loop,
                                              const Session& session, bool user_limit_checked) {
  const CompiledConfig& compiled = loop.config();
  const auto& server = compiled.config().server;
  const auto& auth = compiled.config().auth;
  AcceptedIdentity accepted;
  auth::VerifiedToken& token = decision.accepted->token;
  Session::Identity& identity = accepted.identity;
  identity.user_id =
      token.subject.empty() && auth.anonymous ? "anon:" + session.id() : std::move(token.subject);
  identity.permissions = std::move(token.perms);
  identity.claims = std::move(token.claims);
  accepted.expires_at = token.expires_at;

  // Limits: the whole server, then this user.
  Engine& engine = loop.engine();
  // Reserve a place at once (two loops may admit at the same moment); released on refusal.
  const int64_t places_taken = engine.open_connections().fetch_add(1);
  if (server.max_connections > 0 && places_taken >= static_cast<int64_t>(server.max_connections)) {
    engine.open_connections().fetch_sub(1);
    decision.accepted.reset();
    decision.refusal = {503, "server_full",
                        "the server is at server.max_connections: try again later", true, 4429};
    return std::nullopt;
  }
  std::optional<UserConnection> replaced;
  const bool cycle = auth.connection_limit.mode == config::ConnectionLimitMode::cycle;
  const uint32_t max_per_user = user_limit_checked ? 0 : auth.connection_limit.max_per_user;
  if (!engine.directory().admit_connection(identity.user_id,
                                           {session.number(), static_cast<uint16_t>(loop.index())},
                                           max_per_user, cycle, replaced)) {
    engine.open_connections().fetch_sub(1);
    decision.accepted.reset();
    decision.refusal = user_limit_refusal();
    return std::nullopt;
  }
  if (replaced) {
    loop.delivery().post(
        replaced->loop, CloseUserSession{identity.user_id, replaced->number,
                                         ws::close_code::replaced, "replaced by newer connection"});
  }
  return accepted;
}

std::string welcome_payload(const Session& session) {
  std::string welcome = "{\"conn_id\":\"" + session.id() + "\",\"user_id\":\"";
  tmpl::append_json_escaped(welcome, session.user_id());
  welcome += "\",\"server\":\"dispatch/" DISPATCH_VERSION "\"}";
  return welcome;
}

SteadyTime token_deadline(const Clock& clock, int64_t expires_at,
                          std::chrono::milliseconds leeway) {
  return clock.now() + std::chrono::seconds(expires_at - clock.unix_seconds()) + leeway;
}

}  // namespace dispatch
