// Admitting a client whose token decide_upgrade() accepted: who it is (the token's subject, or
// "anon:<id>" with auth.anonymous), then the limits — server.max_connections, then the user's
// auth.connection_limit (reject, or cycle: the user's oldest session is closed with 4001). A
// real Connection and a `dispatch test` scenario client are admitted by this same code, so a
// scenario that expects `too_many_connections` tests what a server would do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "clock/clock.h"
#include "session/session.h"
#include "transport/upgrade.h"

namespace dispatch {

class EventLoop;

struct AcceptedIdentity {
  Session::Identity identity;
  std::optional<int64_t> expires_at;  // the token's exp, unix seconds
};

// On success the session holds a place among the engine's open connections and in the
// directory (given back when it closes) and a replaced session has been told to close; the
// caller then opens the session. On refusal `decision.accepted` is reset and `decision.refusal`
// says why. `decision.accepted` must be set. `user_limit_checked`: the cluster has applied the
// per-user limit already (and closes a replaced connection itself).
std::optional<AcceptedIdentity> admit_session(UpgradeDecision& decision, EventLoop& loop,
                                              const Session& session,
                                              bool user_limit_checked = false);

// The refusals of the per-user and per-IP limits (the same on a single node and in a cluster).
UpgradeRefusal user_limit_refusal();
UpgradeRefusal ip_limit_refusal();

// The id a session of this token will have as its user ("" for an anonymous one, whose id is
// unique to the connection and never over a per-user limit).
std::string_view token_user(const UpgradeDecision& decision);

// The payload of the `welcome` frame a session gets once it is open (SPEC section 3).
std::string welcome_payload(const Session& session);

// When a session whose token expires at `expires_at` (unix seconds) is closed with 4401: exp
// plus auth.jwt.leeway, on the loop's steady clock.
SteadyTime token_deadline(const Clock& clock, int64_t expires_at, std::chrono::milliseconds leeway);

}  // namespace dispatch
