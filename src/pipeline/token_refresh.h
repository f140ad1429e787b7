// `_refresh` (SPEC 4.3): a client replaces its session token without reconnecting, so a
// long-lived tab stays connected past its first token's `exp`. The new token must verify like a
// session token at the handshake, name the same user (`sub`), hold only known permissions and
// expire later than the current one; then its permissions, claims and expiry replace the
// session's and the client gets its `ack`. Otherwise `invalid_token`, and the session keeps its
// old token (and closes 4401 when that one expires).
#pragma once

namespace dispatch {

class Session;
class SessionLoop;
struct IncomingMessage;

inline constexpr const char* refresh_event = "_refresh";

void refresh_token(SessionLoop& loop, Session& session, const IncomingMessage& message);

}  // namespace dispatch
