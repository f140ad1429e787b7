// Deciding on a WebSocket upgrade request (SPEC section 3): parse the HTTP request (Beast),
// check path, method and headers, the Origin, find the session token (Authorization header,
// then subprotocol, then cookie), verify it, and either accept — with the 101 response to send —
// or refuse with a status and a JSON body that says what happened and what to do.
// Pure: no sockets, no global state; per-user limits are checked by the caller afterwards.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/jwt.h"
#include "transport/static_files.h"

namespace dispatch {

class CompiledConfig;

struct UpgradeRefusal {
  int status = 400;
  std::string code;                   // "missing_token", "forbidden_origin", ...
  std::string message;                // a sentence for the user
  bool after_upgrade_allowed = true;  // with refuse_after_upgrade, may close 44xx instead
  uint16_t close_code = 4401;         // the close code used after upgrade
  int64_t retry_after_ms = 0;         // > 0: a Retry-After header and `retry_after_ms` in the body
};

struct UpgradeAcceptance {
  std::string response;  // the whole "HTTP/1.1 101 ..." response
  auth::VerifiedToken token;
};

struct UpgradeDecision {
  std::optional<UpgradeAcceptance> accepted;
  UpgradeRefusal refusal;  // when not accepted
  // Set when the refusal may instead complete the upgrade and close (refuse_after_upgrade).
  std::string upgrade_response_for_refusal;
  // A plain HTTP answer that is not a refusal (/healthz): sent, then the socket closes.
  std::string http_response;
  // GET /metrics: the caller answers with the Prometheus exposition (it knows the engine).
  bool metrics = false;
  // GET /readyz: the caller answers 200 or 503 (it knows whether the node is ready).
  bool readiness = false;
  // /api/*: the caller checks the head (api/api_request.h), reads the body and answers.
  bool api = false;
  // A file of server.static_dir (or the 400/404 in its head): streamed, then the socket closes.
  std::optional<StaticFile> static_file;
};

// The listener a request came in on. With server.admin_address set, /metrics and /api/* are
// served only on the admin listener, which serves nothing else but /healthz and /readyz.
enum class Listener : uint8_t { main, admin };

// `request` holds the request head up to and including the blank line.
UpgradeDecision decide_upgrade(std::string_view request, const CompiledConfig& config,
                               int64_t now_unix_seconds, Listener listener = Listener::main);

// The path of the request line's target (without its query), "" when there is no request line:
// cheap, for deciding before decide_upgrade() whether a request asks for the WebSocket path.
std::string_view request_path(std::string_view request_head);

// A plain HTTP response with this body and Connection: close.
std::string plain_http_response(int status, std::string_view content_type, std::string_view body);
// The answer to GET /readyz: 200 {"status":"ok"}, or 503 {"status":"not_ready","reason":…}.
std::string readiness_response(bool ready, std::string_view reason);

// The plain HTTP response for a refusal: status line, JSON body, Connection: close.
std::string refusal_response(const UpgradeRefusal& refusal);

// Matches an Origin header against server.allowed_origins (see docs/CONFIG.md).
bool origin_allowed(std::string_view origin, std::string_view host,
                    const std::vector<std::string>& allowed);

}  // namespace dispatch
