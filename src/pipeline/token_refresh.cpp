#include "pipeline/token_refresh.h"

#include <fmt/format.h>

#include "frames/server_frames.h"
#include "pipeline/compiled_config.h"
#include "pipeline/incoming_message.h"
#include "pipeline/session_loop.h"
#include "session/session.h"

namespace dispatch {

namespace {

void refuse(Session& session, const IncomingMessage& message, ErrorCode code,
            std::string_view text) {
  session.send_error(code, build_error_frame(code, text, message.ref_json, message.event, {}));
}

}  // namespace

void refresh_token(SessionLoop& loop, Session& session, const IncomingMessage& message) {
  simdjson::dom::object payload;
  std::string_view token;
  if (!message.payload || message.payload->get_object().get(payload) ||
      payload.at_key("token").get_string().get(token)) {
    refuse(session, message, ErrorCode::bad_message,
           "`_refresh` needs a payload {\"token\": \"<the new session token>\"}");
    return;
  }
  const CompiledConfig& compiled = loop.config();
  const int64_t now = session.clock().unix_seconds();
  auth::JwtResult verified =
      auth::verify_jwt(token, compiled.session_jwt(), now, compiled.wanted_claims());
  if (verified.error == auth::JwtError::expired) {
    refuse(session, message, ErrorCode::invalid_token,
           "the new session token has expired already: get a fresh one");
    return;
  }
  if (verified.error != auth::JwtError::none) {
    refuse(session, message, ErrorCode::invalid_token,
           fmt::format("the new session token was refused: {}", auth::describe(verified.error)));
    return;
  }
  auth::VerifiedToken& fresh = verified.token;
  if (fresh.subject != session.user_id()) {
    refuse(session, message, ErrorCode::invalid_token,
           "the new session token is for another user (`sub` differs): a connection keeps its "
           "user; reconnect to change it");
    return;
  }
  for (const std::string& permission : fresh.perms) {
    if (!compiled.is_known_permission(permission)) {
      refuse(session, message, ErrorCode::invalid_token,
             fmt::format("the new session token's perms claim holds `{}`, which is not in the "
                         "config's permissions list",
                         permission));
      return;
    }
  }
  const std::optional<int64_t> current = session.token_expires_at();
  if (current && fresh.expires_at && *fresh.expires_at <= *current) {
    refuse(session, message, ErrorCode::invalid_token,
           "the new session token must expire later than the current one (its `exp` is not "
           "later)");
    return;
  }
  session.replace_token(std::move(fresh.perms), std::move(fresh.claims), fresh.expires_at);
  if (!message.ref_json.empty()) session.send(build_ack_frame(message.ref_json));
}

}  // namespace dispatch
