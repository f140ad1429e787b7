#include "transport/upgrade.h"

#include <fmt/format.h>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <optional>
#include <utility>

#include "pipeline/compiled_config.h"
#include "protocol/websocket.h"
#include "template/json_escape.h"
#include "transport/static_files.h"

namespace dispatch {

namespace http = boost::beast::http;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Calls `visit` for each comma-separated item of a header value.
template <typename Visit>
void for_each_item(std::string_view value, Visit visit) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = trim(value.substr(0, comma));
    if (!item.empty()) visit(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

bool header_has_token(const http::request<http::empty_body>& request, http::field field,
                      std::string_view token) {
  bool found = false;
  for (auto it = request.find(field); it != request.end() && it->name() == field; ++it) {
    for_each_item(it->value(), [&](std::string_view item) { found |= iequals(item, token); });
  }
  return found;
}

// GET /healthz (and /readyz when ready), on either listener.
std::string health_response() {
  return plain_http_response(200, "application/json", "{\"status\":\"ok\"}");
}

UpgradeDecision refuse(int status, std::string code, std::string message, uint16_t close_code,
                       bool after_upgrade_allowed = true) {
  UpgradeDecision decision;
  decision.refusal = {status, std::move(code), std::move(message), after_upgrade_allowed,
                      close_code};
  return decision;
}

std::string_view host_of_origin(std::string_view origin) {
  size_t scheme_end = origin.find("://");
  if (scheme_end != std::string_view::npos) origin.remove_prefix(scheme_end + 3);
  return origin;
}

// Exactly 16 bytes in canonical base64: 22 base64 digits, the last of which carries only 4
// bits (A, Q, g or w), then "==".
bool is_base64_of_16_bytes(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; ++i) {
    const char c = key[i];
    const bool digit = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '+' || c == '/';
    if (!digit) return false;
  }
  return key[21] == 'A' || key[21] == 'Q' || key[21] == 'g' || key[21] == 'w';
}

// A header line that continues the previous one (obs-fold, RFC 9112 section 5.2): a request
// with one is refused rather than guessed at.
bool has_folded_header_line(std::string_view head) {
  const size_t end = head.find("\r\n\r\n");
  if (end != std::string_view::npos) head = head.substr(0, end + 2);
  for (size_t at = head.find('\n'); at != std::string_view::npos && at + 1 < head.size();
       at = head.find('\n', at + 1)) {
    if (head[at + 1] == ' ' || head[at + 1] == '\t') return true;
  }
  return false;
}

// What makes an upgrade request to the WebSocket path malformed beyond what Beast's parser
// checks (RFC 6455 section 4.1, RFC 9112): why, or nothing.
std::optional<std::string> malformed_handshake(const http::request<http::empty_body>& request,
                                               std::string_view head) {
  if (request.version() != 11) {
    return "a WebSocket upgrade needs HTTP/1.1 (this request is HTTP/" +
           std::to_string(request.version() / 10) + "." + std::to_string(request.version() % 10) +
           ")";
  }
  if (has_folded_header_line(head)) {
    return std::string(
        "a header line is folded onto the previous one (obs-fold): send each "
        "header on one line");
  }
  if (request.count(http::field::host) == 0) return std::string("the Host header is missing");
  for (const auto& [field, name] : {std::pair{http::field::host, "Host"},
                                    std::pair{http::field::sec_websocket_key, "Sec-WebSocket-Key"},
                                    std::pair{http::field::origin, "Origin"}}) {
    if (request.count(field) > 1) return std::string("the ") + name + " header appears twice";
  }
  return std::nullopt;
}

struct TokenSource {
  std::string_view token;
  std::string_view where;  // for messages: "Authorization header", ...
};
constexpr std::string_view kCookieSource = "cookie";

// A cookie is an ambient credential: the browser attaches it to a WebSocket opened by any
// page. `"*"` in allowed_origins therefore admits cookie-authenticated connections only from
// clients without an Origin, from pages of this host, and from origins listed explicitly;
// tokens sent in the Authorization header or the subprotocol are not ambient and `"*"` admits
// them from anywhere.
bool origin_may_use_cookies(std::string_view origin, std::string_view host,
                            const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), "*") == allowed.end()) return true;
  if (origin.empty() || iequals(host_of_origin(origin), host)) return true;
  std::vector<std::string> explicit_origins;
  for (const std::string& pattern : allowed) {
    if (pattern != "*") explicit_origins.push_back(pattern);
  }
  return !explicit_origins.empty() && origin_allowed(origin, host, explicit_origins);
}

}  // namespace

bool origin_allowed(std::string_view origin, std::string_view host,
                    const std::vector<std::string>& allowed) {
  // No Origin: not a browser (servers and CLIs send none), so cross-site rules do not apply.
  if (origin.empty()) return true;
  for (const std::string& pattern : allowed) {
    if (pattern == "*") return true;
    if (iequals(pattern, origin)) return true;
    size_t star = pattern.find("://*.");
    if (star != std::string::npos) {
      std::string_view scheme = std::string_view(pattern).substr(0, star + 3);
      std::string_view suffix = std::string_view(pattern).substr(star + 4);  // ".example.com"
      if (origin.size() > scheme.size() + suffix.size() &&
          iequals(origin.substr(0, scheme.size()), scheme) &&
          iequals(origin.substr(origin.size() - suffix.size()), suffix)) {
        return true;
      }
    }
  }
  // The safe default: a page served by this very host may connect.
  if (allowed.empty()) return iequals(host_of_origin(origin), host);
  return false;
}

std::string plain_http_response(int status, std::string_view content_type, std::string_view body) {
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n"
      "Connection: close\r\n\r\n{}",
      status, http::obsolete_reason(static_cast<http::status>(status)), content_type, body.size(),
      body);
}

std::string readiness_response(bool ready, std::string_view reason) {
  if (ready) return health_response();
  std::string body = "{\"status\":\"not_ready\",\"reason\":\"";
  tmpl::append_json_escaped(body, reason);
  body += "\"}";
  return plain_http_response(503, "application/json", body);
}

std::string_view request_path(std::string_view request_head) {
  const size_t line_end = request_head.find('\r');
  const std::string_view line = request_head.substr(0, line_end);
  const size_t method_end = line.find(' ');
  if (method_end == std::string_view::npos) return {};
  std::string_view target = line.substr(method_end + 1);
  target = target.substr(0, target.find(' '));
  return target.substr(0, target.find('?'));
}

std::string refusal_response(const UpgradeRefusal& refusal) {
  std::string body = "{\"error\":\"";
  tmpl::append_json_escaped(body, refusal.code);
  body += "\",\"message\":\"";
  tmpl::append_json_escaped(body, refusal.message);
  body += '"';
  std::string extra;
  if (refusal.retry_after_ms > 0) {
    fmt::format_to(std::back_inserter(body), ",\"retry_after_ms\":{}", refusal.retry_after_ms);
    extra = fmt::format("Retry-After: {}\r\n", (refusal.retry_after_ms + 999) / 1000);
  }
  body += '}';
  std::string_view reason = http::obsolete_reason(static_cast<http::status>(refusal.status));
  if (refusal.status == 426) extra = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}"
      "Connection: close\r\n\r\n{}",
      refusal.status, reason, body.size(), extra, body);
}

UpgradeDecision decide_upgrade(std::string_view request_bytes, const CompiledConfig& compiled,
                               int64_t now_unix_seconds, Listener listener) {
  const auto& server = compiled.config().server;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<uint64_t>(server.max_header_size + 4, std::numeric_limits<std::uint32_t>::max())));
  parser.body_limit(boost::none);  // bodies are not read here (an /api/* body is read after)
  parser.eager(false);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(request_bytes.data(), request_bytes.size()), ec);
  if (ec || !parser.is_header_done()) {
    if (ec == http::error::header_limit) {
      return refuse(431, "headers_too_large",
                    "the request headers are larger than server.max_header_size", 1009, false);
    }
    return refuse(400, "bad_request", "the request is not valid HTTP/1.1", 1002, false);
  }
  const auto& request = parser.get();

  std::string_view target(request.target().data(), request.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  const bool get_or_head =
      request.method() == http::verb::get || request.method() == http::verb::head;
  const bool admin_routes_here = listener == Listener::admin || !server.admin_address;
  if (admin_routes_here && (path == "/api" || path.starts_with("/api/"))) {
    UpgradeDecision decision;
    decision.api = true;
    return decision;
  }
  if (listener == Listener::admin) {
    UpgradeDecision decision;
    if (get_or_head && path == "/metrics") {
      decision.metrics = true;
    } else if (get_or_head && path == "/healthz") {
      decision.http_response = health_response();
    } else if (get_or_head && path == "/readyz") {
      decision.readiness = true;
    } else {
      return refuse(404, "not_found",
                    "the admin listener (server.admin_address) serves /metrics, /api/*, /healthz "
                    "and /readyz",
                    1008, false);
    }
    return decision;
  }
  if (path != server.path && get_or_head) {
    UpgradeDecision decision;
    if (path == "/metrics" && admin_routes_here) {
      decision.metrics = true;
      return decision;
    }
    if (path == "/healthz") {
      decision.http_response = health_response();
    } else if (path == "/readyz") {
      decision.readiness = true;
    } else if (!server.static_dir.empty()) {
      decision.static_file =
          static_file_for(server.static_dir, target, request.method() == http::verb::head);
      return decision;
    } else if (path == "/") {
      decision.http_response = plain_http_response(
          200, "text/html; charset=utf-8",
          fmt::format("<!doctype html><meta charset=utf-8><title>Dispatch</title>"
                      "<link rel=icon href=\"data:,\">"
                      "<p>Dispatch " DISPATCH_VERSION " is running. Its WebSocket endpoint is "
                      "<code>{}</code>: connect from this page's console (see the README's quick "
                      "start), or serve a page with <code>server.static_dir</code>.</p>",
                      server.path));
    }
    if (!decision.http_response.empty() || decision.readiness) return decision;
  }
  if (path != server.path) {
    return refuse(404, "not_found",
                  fmt::format("nothing here; the WebSocket endpoint is {}", server.path), 1008,
                  false);
  }
  if (request.method() != http::verb::get) {
    return refuse(405, "method_not_allowed", "a WebSocket upgrade must be a GET request", 1002,
                  false);
  }
  if (auto malformed = malformed_handshake(request, request_bytes)) {
    return refuse(400, "bad_request", std::move(*malformed), 1002, false);
  }
  if (!header_has_token(request, http::field::upgrade, "websocket") ||
      !header_has_token(request, http::field::connection, "upgrade")) {
    return refuse(426, "upgrade_required",
                  fmt::format("{} is a WebSocket endpoint: connect with a WebSocket client "
                              "(ws://host{})",
                              server.path, server.path),
                  1002, false);
  }
  if (request[http::field::sec_websocket_version] != "13") {
    return refuse(426, "upgrade_required", "only WebSocket version 13 is supported", 1002, false);
  }
  std::string_view key(request[http::field::sec_websocket_key]);
  key = trim(key);
  if (!is_base64_of_16_bytes(key)) {
    return refuse(400, "bad_request", "Sec-WebSocket-Key must be 16 bytes in base64", 1002, false);
  }

  // Subprotocols: "dispatch.v1" (+ "bearer.<jwt>"), or the old form "Authorization", "<jwt>".
  std::string_view answered_protocol;
  std::string_view subprotocol_token;
  {
    std::vector<std::string_view> offered;
    for (auto it = request.find(http::field::sec_websocket_protocol);
         it != request.end() && it->name() == http::field::sec_websocket_protocol; ++it) {
      for_each_item(std::string_view(it->value().data(), it->value().size()),
                    [&](std::string_view item) { offered.push_back(item); });
    }
    for (std::string_view item : offered) {
      if (item == "dispatch.v1") answered_protocol = "dispatch.v1";
      if (item.size() > 7 && item.substr(0, 7) == "bearer.") subprotocol_token = item.substr(7);
    }
    if (answered_protocol.empty() && !offered.empty() && offered.front() == "Authorization") {
      answered_protocol = "Authorization";
      if (offered.size() >= 2) subprotocol_token = offered[1];
    }
  }

  TokenSource source;
  std::string_view authorization(request[http::field::authorization]);
  if (!authorization.empty()) {
    if (authorization.size() > 7 && iequals(authorization.substr(0, 7), "bearer ")) {
      source = {trim(authorization.substr(7)), "Authorization header"};
    } else {
      return refuse(401, "invalid_token", "the Authorization header must be `Bearer <token>`",
                    4401);
    }
  } else if (!subprotocol_token.empty()) {
    source = {subprotocol_token, "subprotocol"};
  } else {
    for (auto it = request.find(http::field::cookie);
         it != request.end() && it->name() == http::field::cookie && source.token.empty(); ++it) {
      std::string_view cookies(it->value().data(), it->value().size());
      while (!cookies.empty()) {
        size_t semicolon = cookies.find(';');
        std::string_view pair = trim(cookies.substr(0, semicolon));
        if (pair.size() > 14 && pair.substr(0, 14) == "session-token=") {
          source = {pair.substr(14), kCookieSource};
          break;
        }
        if (semicolon == std::string_view::npos) break;
        cookies.remove_prefix(semicolon + 1);
      }
    }
  }

  UpgradeDecision decision;
  std::string response = fmt::format(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: {}\r\n{}\r\n",
      ws::accept_key(key),
      answered_protocol.empty() ? std::string()
                                : fmt::format("Sec-WebSocket-Protocol: {}\r\n", answered_protocol));
  decision.upgrade_response_for_refusal = response;

  std::string_view origin(request[http::field::origin]);
  std::string_view host(request[http::field::host]);
  if (!origin_allowed(origin, host, server.allowed_origins)) {
    auto refused = refuse(
        403, "forbidden_origin",
        fmt::format("origin {} may not connect: add it to server.allowed_origins", origin), 4403);
    refused.upgrade_response_for_refusal = decision.upgrade_response_for_refusal;
    return refused;
  }

  if (source.where == kCookieSource &&
      !origin_may_use_cookies(origin, host, server.allowed_origins)) {
    auto refused = refuse(
        403, "forbidden_origin",
        fmt::format("origin {} may not connect with the session-token cookie: "
                    "server.allowed_origins admits it only through \"*\", and a cookie is sent "
                    "by the browser on its own, so any site could act as the user. List the "
                    "origin in server.allowed_origins, or send the token in the subprotocol",
                    origin),
        4403);
    refused.upgrade_response_for_refusal = decision.upgrade_response_for_refusal;
    return refused;
  }

  if (source.token.empty()) {
    if (compiled.config().auth.anonymous) {
      decision.accepted = UpgradeAcceptance{std::move(response), {}};
      return decision;
    }
    auto refused = refuse(401, "missing_token",
                          "no session token: send `Authorization: Bearer <token>`, the "
                          "subprotocols [\"dispatch.v1\", \"bearer.<token>\"], or a "
                          "session-token cookie (`dispatch token --sub <user>` makes one)",
                          4401);
    refused.upgrade_response_for_refusal = decision.upgrade_response_for_refusal;
    return refused;
  }

  auth::JwtResult verified = auth::verify_jwt(source.token, compiled.session_jwt(),
                                              now_unix_seconds, compiled.wanted_claims());
  if (verified.error != auth::JwtError::none) {
    const bool expired = verified.error == auth::JwtError::expired;
    auto refused = refuse(
        401, expired ? "token_expired" : "invalid_token",
        expired ? fmt::format("the session token (from the {}) has expired: get a new one",
                              source.where)
                : fmt::format("the session token (from the {}) was refused: {}; tokens must be "
                              "signed with the server's auth.jwt.secret (`dispatch token --sub "
                              "<user>` makes one)",
                              source.where, auth::describe(verified.error)),
        4401);
    refused.upgrade_response_for_refusal = decision.upgrade_response_for_refusal;
    return refused;
  }
  for (const std::string& permission : verified.token.perms) {
    if (!compiled.is_known_permission(permission)) {
      auto refused = refuse(403, "unknown_permission",
                            fmt::format("the token's perms claim holds `{}`, which is not in "
                                        "the config's permissions list",
                                        permission),
                            4403);
      refused.upgrade_response_for_refusal = decision.upgrade_response_for_refusal;
      return refused;
    }
  }
  decision.accepted = UpgradeAcceptance{std::move(response), std::move(verified.token)};
  return decision;
}

}  // namespace dispatch
