// Tests of the upgrade decision (src/transport/upgrade.h, SPEC section 3): every refusal with
// its status and code, the 101 response, where the token comes from, origin rules and the
// refusal's HTTP response.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <utility>
#include <vector>

#include "auth/jwt.h"
#include "compile_test_support.h"
#include "config/environment.h"
#include "config/loader.h"
#include "dispatch/extension.h"
#include "pipeline/compiled_config.h"
#include "transport/upgrade.h"

namespace dispatch {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNow = 1'700'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef";
constexpr std::string_view kRfcKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kRfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

std::shared_ptr<const CompiledConfig> compile(std::string_view server_extra = "",
                                              std::string_view auth_extra = "") {
  std::string yaml = "server:\n  path: /ws\n";
  yaml += server_extra;
  yaml += "auth:\n  jwt:\n    secret: \"" + kSecret + "\"\n";
  yaml += auth_extra;
  yaml += "permissions: [kick_user, moderate]\n";
  return test_support::compile_config(yaml);
}

std::string token(std::string_view claims) {
  return auth::sign_jwt_hs256(claims, kSecret);
}
std::string token_for(std::string_view user) {
  return token(std::string(R"({"sub":")") + std::string(user) + "\"}");
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// A browser-like upgrade request; `headers` are added after the standard ones, and a standard
// header whose value in `replace` is empty is left out.
std::string request(const Headers& headers = {}, const Headers& replace = {},
                    std::string_view method = "GET", std::string_view target = "/ws") {
  Headers standard = {{"Host", "localhost:8080"},
                      {"Upgrade", "websocket"},
                      {"Connection", "Upgrade"},
                      {"Sec-WebSocket-Key", std::string(kRfcKey)},
                      {"Sec-WebSocket-Version", "13"}};
  for (const auto& [name, value] : replace) {
    for (auto& header : standard) {
      if (header.first == name) header.second = value;
    }
  }
  std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  for (const auto& [name, value] : standard) {
    if (!value.empty()) out += name + ": " + value + "\r\n";
  }
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  return out + "\r\n";
}

Headers bearer(std::string_view jwt) {
  return {{"Authorization", "Bearer " + std::string(jwt)}};
}

class UpgradeTest : public ::testing::Test {
 protected:
  UpgradeDecision decide(const std::string& request_bytes, int64_t now = kNow) {
    return decide_upgrade(request_bytes, *config_, now);
  }
  void expect_refusal(const UpgradeDecision& decision, int status, std::string_view code) {
    EXPECT_FALSE(decision.accepted.has_value());
    EXPECT_EQ(decision.refusal.status, status);
    EXPECT_EQ(decision.refusal.code, code);
    EXPECT_FALSE(decision.refusal.message.empty());
  }

  std::shared_ptr<const CompiledConfig> config_ = compile();
};

// ---- acceptance ----

TEST_F(UpgradeTest, AcceptsWithTheRfcAcceptKey) {
  UpgradeDecision decision = decide(request(bearer(token_for("alice"))));
  ASSERT_TRUE(decision.accepted.has_value()) << decision.refusal.message;
  EXPECT_EQ(decision.accepted->response,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  EXPECT_EQ(decision.accepted->token.subject, "alice");
}

TEST_F(UpgradeTest, HeaderTokensAreCaseInsensitive) {
  const std::string jwt = token_for("alice");
  UpgradeDecision decision =
      decide(request({{"Authorization", "bearer " + jwt}},
                     {{"Upgrade", "WebSocket"}, {"Connection", "keep-alive, Upgrade"}}));
  ASSERT_TRUE(decision.accepted.has_value()) << decision.refusal.message;
  EXPECT_EQ(decision.accepted->token.subject, "alice");
}

TEST_F(UpgradeTest, QueryStringIsNotPartOfThePath) {
  UpgradeDecision decision =
      decide(request(bearer(token_for("alice")), {}, "GET", "/ws?room=lobby&v=1"));
  EXPECT_TRUE(decision.accepted.has_value()) << decision.refusal.message;
}

TEST_F(UpgradeTest, PermissionsFromTheConfigAreAccepted) {
  UpgradeDecision decision =
      decide(request(bearer(token(R"({"sub":"mod","perms":["kick_user","moderate"]})"))));
  ASSERT_TRUE(decision.accepted.has_value()) << decision.refusal.message;
  EXPECT_THAT(decision.accepted->token.perms, ::testing::ElementsAre("kick_user", "moderate"));
}

TEST_F(UpgradeTest, ExpiryWithinTheLeewayIsAccepted) {
  const std::string claims = R"({"sub":"alice","exp":)" + std::to_string(kNow - 10) + "}";
  EXPECT_TRUE(decide(request(bearer(token(claims)))).accepted.has_value());
}

TEST_F(UpgradeTest, AnonymousConnectionsWithoutAToken) {
  config_ = compile("", "  anonymous: true\n");
  UpgradeDecision decision = decide(request());
  ASSERT_TRUE(decision.accepted.has_value()) << decision.refusal.message;
  EXPECT_EQ(decision.accepted->token.subject, "");
  // A token that is present is still checked.
  expect_refusal(decide(request(bearer("not.a.token"))), 401, "invalid_token");
}

// ---- refusals ----

TEST_F(UpgradeTest, OtherPathIs404) {
  const std::string jwt = token_for("alice");
  for (std::string_view target : {"/wss", "/ws/", "/WS", "/ws2?x"}) {
    SCOPED_TRACE(target);
    UpgradeDecision decision = decide(request(bearer(jwt), {}, "GET", target));
    expect_refusal(decision, 404, "not_found");
    EXPECT_FALSE(decision.refusal.after_upgrade_allowed);
  }
}

TEST_F(UpgradeTest, RootHealthAndReadinessAnswerPlainHttp) {
  UpgradeDecision root = decide(request({}, {}, "GET", "/"));
  EXPECT_FALSE(root.accepted);
  EXPECT_TRUE(root.http_response.starts_with("HTTP/1.1 200 OK\r\n")) << root.http_response;
  EXPECT_NE(root.http_response.find("Content-Type: text/html"), std::string::npos);
  EXPECT_NE(root.http_response.find("<code>/ws</code>"), std::string::npos);
  // The page declares its icon inline, so a browser opening it (the README's quick start) asks
  // for no /favicon.ico, whose 404 would show in red in the console the user pastes into.
  EXPECT_NE(root.http_response.find(R"(<link rel=icon href="data:,">)"), std::string::npos);
  UpgradeDecision health = decide(request({}, {}, "GET", "/healthz"));
  EXPECT_TRUE(health.http_response.starts_with("HTTP/1.1 200 OK\r\n")) << health.http_response;
  EXPECT_TRUE(health.http_response.ends_with("\r\n\r\n{\"status\":\"ok\"}"));
  // Readiness depends on the node (a cluster node needs Redis): the caller answers it.
  UpgradeDecision readiness = decide(request({}, {}, "GET", "/readyz"));
  EXPECT_TRUE(readiness.readiness);
  EXPECT_TRUE(readiness.http_response.empty());
  const std::string ready = readiness_response(true, "");
  EXPECT_TRUE(ready.starts_with("HTTP/1.1 200 OK\r\n")) << ready;
  EXPECT_TRUE(ready.ends_with("\r\n\r\n{\"status\":\"ok\"}"));
  const std::string not_ready = readiness_response(false, "not connected to Redis: \"x\"");
  EXPECT_TRUE(not_ready.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << not_ready;
  EXPECT_TRUE(
      not_ready.ends_with(R"({"status":"not_ready","reason":"not connected to Redis: \"x\""})"))
      << not_ready;
}

TEST_F(UpgradeTest, OtherMethodIs405) {
  for (std::string_view method : {"POST", "PUT", "HEAD", "DELETE"}) {
    SCOPED_TRACE(method);
    UpgradeDecision decision = decide(request(bearer(token_for("alice")), {}, method));
    expect_refusal(decision, 405, "method_not_allowed");
    EXPECT_FALSE(decision.refusal.after_upgrade_allowed);
  }
}

TEST_F(UpgradeTest, NotAnUpgradeIs426) {
  const Headers auth = bearer(token_for("alice"));
  expect_refusal(decide(request(auth, {{"Upgrade", ""}})), 426, "upgrade_required");
  expect_refusal(decide(request(auth, {{"Connection", ""}})), 426, "upgrade_required");
  expect_refusal(decide(request(auth, {{"Upgrade", "h2c"}})), 426, "upgrade_required");
  expect_refusal(decide(request(auth, {{"Connection", "keep-alive"}})), 426, "upgrade_required");
  // A plain GET as a browser would send it when someone opens the URL.
  expect_refusal(decide("GET /ws HTTP/1.1\r\nHost: localhost:8080\r\nAccept: text/html\r\n\r\n"),
                 426, "upgrade_required");
}

TEST_F(UpgradeTest, WrongVersionIs426) {
  const Headers auth = bearer(token_for("alice"));
  expect_refusal(decide(request(auth, {{"Sec-WebSocket-Version", "8"}})), 426, "upgrade_required");
  expect_refusal(decide(request(auth, {{"Sec-WebSocket-Version", ""}})), 426, "upgrade_required");
}

TEST_F(UpgradeTest, BadKeyIs400) {
  const Headers auth = bearer(token_for("alice"));
  for (std::string_view key : {"", "short", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=A",
                               "dGhlIHNhbXBsZSBub25jZQ==dGhl"}) {
    SCOPED_TRACE(key);
    UpgradeDecision decision = decide(request(auth, {{"Sec-WebSocket-Key", std::string(key)}}));
    expect_refusal(decision, 400, "bad_request");
    EXPECT_FALSE(decision.refusal.after_upgrade_allowed);
  }
}

TEST_F(UpgradeTest, KeysThatAreNot16BytesOfBase64Are400) {
  const Headers auth = bearer(token_for("alice"));
  for (std::string_view key : {"dGhlIHNhbXBsZSBub25j!Q==", "dGhlIHNhbXBsZSBub25jZR==",
                               "dGhlIHNhbXBs ZSBub25jZQ==", "========================"}) {
    SCOPED_TRACE(key);
    UpgradeDecision decision = decide(request(auth, {{"Sec-WebSocket-Key", std::string(key)}}));
    expect_refusal(decision, 400, "bad_request");
    EXPECT_EQ(decision.refusal.message, "Sec-WebSocket-Key must be 16 bytes in base64");
  }
  for (std::string_view key : {"AAAAAAAAAAAAAAAAAAAAAA==", "/+9zZXJ2ZXIgbm9uY2Ugdw=="}) {
    SCOPED_TRACE(key);
    EXPECT_TRUE(decide(request(auth, {{"Sec-WebSocket-Key", std::string(key)}})).accepted);
  }
}

// Each of these is accepted by Beast's parser but not a valid WebSocket handshake; guessing
// which of two Hosts (or Origins) is meant is how smuggling and origin checks go wrong.
TEST_F(UpgradeTest, MalformedHandshakesAre400WithAReason) {
  const std::string jwt = token_for("alice");
  const std::string good = request(bearer(jwt));
  auto with = [&](std::string_view from, std::string_view to) {
    std::string text = good;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  const std::pair<std::string, std::string> cases[] = {
      {with("GET /ws HTTP/1.1", "GET /ws HTTP/1.0"),
       "a WebSocket upgrade needs HTTP/1.1 (this request is HTTP/1.0)"},
      {with("Host: localhost:8080\r\n", ""), "the Host header is missing"},
      {with("Host: localhost:8080\r\n", "Host: localhost:8080\r\nHost: evil.example\r\n"),
       "the Host header appears twice"},
      {with("Sec-WebSocket-Version",
            "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version"),
       "the Sec-WebSocket-Key header appears twice"},
      {with("\r\n\r\n", "\r\nOrigin: http://localhost:8080\r\nOrigin: http://evil.example\r\n\r\n"),
       "the Origin header appears twice"},
      {with("Upgrade: websocket\r\n", "Upgrade:\r\n websocket\r\n"),
       "a header line is folded onto the previous one (obs-fold): send each header on one line"},
      {with("Host: localhost:8080\r\n", "Host: localhost:8080\r\n\tX-Continued: 1\r\n"),
       "a header line is folded onto the previous one (obs-fold): send each header on one line"},
  };
  for (const auto& [text, reason] : cases) {
    SCOPED_TRACE(text);
    UpgradeDecision decision = decide(text);
    expect_refusal(decision, 400, "bad_request");
    EXPECT_EQ(decision.refusal.message, reason);
    EXPECT_FALSE(decision.refusal.after_upgrade_allowed);
    EXPECT_THAT(refusal_response(decision.refusal), HasSubstr(reason));
  }
  EXPECT_TRUE(decide(good).accepted.has_value());
}

TEST_F(UpgradeTest, NotHttpIs400) {
  expect_refusal(decide("hello\r\n\r\n"), 400, "bad_request");
  expect_refusal(decide("GET /ws HTTP/1.1\r\nHost: x\r\n"), 400, "bad_request");  // unfinished
}

TEST_F(UpgradeTest, HugeHeadersAre431) {
  const Headers auth = bearer(token_for("alice"));
  Headers big = auth;
  big.push_back({"X-Padding", std::string(9000, 'p')});
  UpgradeDecision decision = decide(request(big));
  expect_refusal(decision, 431, "headers_too_large");
  EXPECT_FALSE(decision.refusal.after_upgrade_allowed);
  // Below server.max_header_size (8 KiB by default) is fine.
  Headers fits = auth;
  fits.push_back({"X-Padding", std::string(7000, 'p')});
  EXPECT_TRUE(decide(request(fits)).accepted.has_value());
  // The limit follows the config.
  config_ = compile("  max_header_size: 16KiB\n");
  EXPECT_TRUE(decide(request(big)).accepted.has_value());
}

TEST_F(UpgradeTest, MissingTokenIs401) {
  UpgradeDecision decision = decide(request());
  expect_refusal(decision, 401, "missing_token");
  EXPECT_TRUE(decision.refusal.after_upgrade_allowed);
  EXPECT_EQ(decision.refusal.close_code, 4401);
  EXPECT_THAT(decision.upgrade_response_for_refusal, HasSubstr(std::string(kRfcAccept)));
}

TEST_F(UpgradeTest, InvalidTokenIs401) {
  const std::string wrong_secret = auth::sign_jwt_hs256(R"({"sub":"alice"})", "another-secret");
  for (const std::string& jwt :
       {wrong_secret, std::string("not.a.token"), std::string("garbage"), token(R"({"sub":""})"),
        token(R"({"name":"no sub"})"), token(R"({"sub":42})")}) {
    SCOPED_TRACE(jwt);
    UpgradeDecision decision = decide(request(bearer(jwt)));
    expect_refusal(decision, 401, "invalid_token");
    EXPECT_EQ(decision.refusal.close_code, 4401);
  }
  // Not the Bearer scheme.
  expect_refusal(decide(request({{"Authorization", "Basic YWxpY2U6c2VjcmV0"}})), 401,
                 "invalid_token");
}

TEST_F(UpgradeTest, ExpiredTokenIs401) {
  const std::string claims = R"({"sub":"alice","exp":)" + std::to_string(kNow - 3600) + "}";
  UpgradeDecision decision = decide(request(bearer(token(claims))));
  expect_refusal(decision, 401, "token_expired");
  EXPECT_EQ(decision.refusal.close_code, 4401);
}

TEST_F(UpgradeTest, ForbiddenOriginIs403) {
  UpgradeDecision decision = decide(request(
      {{"Authorization", "Bearer " + token_for("alice")}, {"Origin", "https://evil.example"}}));
  expect_refusal(decision, 403, "forbidden_origin");
  EXPECT_EQ(decision.refusal.close_code, 4403);
  EXPECT_TRUE(decision.refusal.after_upgrade_allowed);
  EXPECT_THAT(decision.refusal.message, HasSubstr("https://evil.example"));
  EXPECT_THAT(decision.upgrade_response_for_refusal, HasSubstr(std::string(kRfcAccept)));
}

TEST_F(UpgradeTest, UnknownPermissionIs403) {
  UpgradeDecision decision =
      decide(request(bearer(token(R"({"sub":"alice","perms":["kick_user","admin"]})"))));
  expect_refusal(decision, 403, "unknown_permission");
  EXPECT_EQ(decision.refusal.close_code, 4403);
  EXPECT_THAT(decision.refusal.message, HasSubstr("admin"));
}

TEST_F(UpgradeTest, RefusalMessagesNeverContainTheToken) {
  const std::string wrong = auth::sign_jwt_hs256(R"({"sub":"alice"})", "another-secret");
  UpgradeDecision decision = decide(request(bearer(wrong)));
  EXPECT_THAT(decision.refusal.message, Not(HasSubstr(wrong)));
  EXPECT_THAT(refusal_response(decision.refusal), Not(HasSubstr(wrong)));
}

// ---- subprotocols and token sources ----

TEST_F(UpgradeTest, DispatchSubprotocolCarriesTheToken) {
  const std::string jwt = token_for("bob");
  UpgradeDecision decision =
      decide(request({{"Sec-WebSocket-Protocol", "dispatch.v1, bearer." + jwt}}));
  ASSERT_TRUE(decision.accepted.has_value()) << decision.refusal.message;
  EXPECT_EQ(decision.accepted->token.subject, "bob");
  EXPECT_EQ(decision.accepted->response,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: dispatch.v1\r\n\r\n");
  EXPECT_THAT(decision.accepted->response, Not(HasSubstr(jwt)));
}

TEST_F(UpgradeTest, DispatchSubprotocolInAnyOrderAndSeparateHeaders) {
  const std::string jwt = token_for("bob");
  UpgradeDecision reversed =
      decide(request({{"Sec-WebSocket-Protocol", "bearer." + jwt + ",dispatch.v1"}}));
  ASSERT_TRUE(reversed.accepted.has_value()) << reversed.refusal.message;
  EXPECT_THAT(reversed.accepted->response, HasSubstr("Sec-WebSocket-Protocol: dispatch.v1\r\n"));
  EXPECT_THAT(reversed.accepted->response, Not(HasSubstr(jwt)));

  UpgradeDecision separate = decide(request(
      {{"Sec-WebSocket-Protocol", "dispatch.v1"}, {"Sec-WebSocket-Protocol", "bearer." + jwt}}));
  ASSERT_TRUE(separate.accepted.has_value()) << separate.refusal.message;
  EXPECT_EQ(separate.accepted->token.subject, "bob");
}

TEST_F(UpgradeTest, OldAuthorizationSubprotocolForm) {
  const std::string jwt = token_for("carol");
  UpgradeDecision decision = decide(request({{"Sec-WebSocket-Protocol", "Authorization, " + jwt}}));
  ASSERT_TRUE(decision.accepted.has_value()) << decision.refusal.message;
  EXPECT_EQ(decision.accepted->token.subject, "carol");
  EXPECT_EQ(decision.accepted->response,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: Authorization\r\n\r\n");
}

TEST_F(UpgradeTest, DispatchSubprotocolWithHeaderTokenIsStillAnswered) {
  UpgradeDecision decision = decide(request({{"Authorization", "Bearer " + token_for("alice")},
                                             {"Sec-WebSocket-Protocol", "dispatch.v1"}}));
  ASSERT_TRUE(decision.accepted.has_value()) << decision.refusal.message;
  EXPECT_THAT(decision.accepted->response, HasSubstr("Sec-WebSocket-Protocol: dispatch.v1\r\n"));
}

TEST_F(UpgradeTest, CookieCarriesTheToken) {
  UpgradeDecision decision =
      decide(request({{"Cookie", "theme=dark; session-token=" + token_for("dave") + "; lang=en"}}));
  ASSERT_TRUE(decision.accepted.has_value()) << decision.refusal.message;
  EXPECT_EQ(decision.accepted->token.subject, "dave");
  EXPECT_THAT(decision.accepted->response, Not(HasSubstr("Sec-WebSocket-Protocol")));
}

TEST_F(UpgradeTest, OtherCookiesAreNotTokens) {
  expect_refusal(decide(request({{"Cookie", "xsession-token=" + token_for("dave")}})), 401,
                 "missing_token");
}

TEST_F(UpgradeTest, HeaderBeatsSubprotocolBeatsCookie) {
  const Headers all = {{"Authorization", "Bearer " + token_for("from-header")},
                       {"Sec-WebSocket-Protocol", "dispatch.v1, bearer." + token_for("from-sub")},
                       {"Cookie", "session-token=" + token_for("from-cookie")}};
  UpgradeDecision decision = decide(request(all));
  ASSERT_TRUE(decision.accepted.has_value());
  EXPECT_EQ(decision.accepted->token.subject, "from-header");

  const Headers sub_and_cookie = {all[1], all[2]};
  decision = decide(request(sub_and_cookie));
  ASSERT_TRUE(decision.accepted.has_value());
  EXPECT_EQ(decision.accepted->token.subject, "from-sub");
}

TEST_F(UpgradeTest, AnInvalidHeaderTokenDoesNotFallBackToTheCookie) {
  UpgradeDecision decision = decide(request({{"Authorization", "Bearer stale.token.value"},
                                             {"Cookie", "session-token=" + token_for("dave")}}));
  expect_refusal(decision, 401, "invalid_token");
}

// ---- origins ----

TEST_F(UpgradeTest, DefaultOriginsAllowNoOriginAndTheSameHost) {
  const std::string jwt = token_for("alice");
  EXPECT_TRUE(decide(request(bearer(jwt))).accepted.has_value());
  EXPECT_TRUE(
      decide(request({{"Authorization", "Bearer " + jwt}, {"Origin", "http://localhost:8080"}}))
          .accepted.has_value());
  expect_refusal(
      decide(request({{"Authorization", "Bearer " + jwt}, {"Origin", "http://localhost:9999"}})),
      403, "forbidden_origin");
}

TEST(OriginAllowed, DefaultEmptyList) {
  const std::vector<std::string> none;
  EXPECT_TRUE(origin_allowed("", "localhost:8080", none));
  EXPECT_TRUE(origin_allowed("http://localhost:8080", "localhost:8080", none));
  EXPECT_TRUE(origin_allowed("https://chat.example.com", "chat.example.com", none));
  EXPECT_TRUE(origin_allowed("https://Chat.Example.com", "chat.example.com", none));
  EXPECT_FALSE(origin_allowed("http://localhost:3000", "localhost:8080", none));
  EXPECT_FALSE(origin_allowed("https://evil.com", "chat.example.com", none));
  EXPECT_FALSE(origin_allowed("https://chat.example.com.evil.com", "chat.example.com", none));
  EXPECT_FALSE(origin_allowed("null", "chat.example.com", none));
}

TEST(OriginAllowed, StarAllowsEverything) {
  const std::vector<std::string> star = {"*"};
  EXPECT_TRUE(origin_allowed("", "h", star));
  EXPECT_TRUE(origin_allowed("https://anything.example", "h", star));
  EXPECT_TRUE(origin_allowed("null", "h", star));
}

TEST(OriginAllowed, ExactOrigins) {
  const std::vector<std::string> list = {"https://app.example.com", "http://localhost:3000"};
  EXPECT_TRUE(origin_allowed("https://app.example.com", "api.example.com", list));
  EXPECT_TRUE(origin_allowed("HTTPS://APP.EXAMPLE.COM", "api.example.com", list));
  EXPECT_TRUE(origin_allowed("http://localhost:3000", "api.example.com", list));
  EXPECT_FALSE(origin_allowed("http://app.example.com", "api.example.com", list));
  EXPECT_FALSE(origin_allowed("https://app.example.com:8443", "api.example.com", list));
  EXPECT_FALSE(origin_allowed("https://app.example.com.evil.com", "api.example.com", list));
  EXPECT_FALSE(origin_allowed("http://localhost:3001", "api.example.com", list));
  // An explicit list replaces the same-host default.
  EXPECT_FALSE(origin_allowed("https://api.example.com", "api.example.com", list));
}

TEST(OriginAllowed, ExplicitListStillAdmitsClientsThatSendNoOrigin) {
  // Only browsers send Origin; servers and CLIs (the Authorization-header clients of SPEC 3)
  // do not, and cannot forge a browser's cross-site request. Centrifugo and gorilla/websocket
  // admit a request without Origin whatever the allowed list says.
  const std::vector<std::string> list = {"https://app.example.com"};
  EXPECT_TRUE(origin_allowed("", "api.example.com", list));
}

TEST(OriginAllowed, SubdomainWildcard) {
  const std::vector<std::string> list = {"https://*.example.com"};
  EXPECT_TRUE(origin_allowed("https://a.example.com", "h", list));
  EXPECT_TRUE(origin_allowed("https://a.b.example.com", "h", list));
  EXPECT_TRUE(origin_allowed("https://A.Example.COM", "h", list));
  EXPECT_FALSE(origin_allowed("https://example.com", "h", list));
  EXPECT_FALSE(origin_allowed("http://a.example.com", "h", list));
  EXPECT_FALSE(origin_allowed("https://aexample.com", "h", list));
  EXPECT_FALSE(origin_allowed("https://a.example.com.evil.com", "h", list));
  EXPECT_FALSE(origin_allowed("https://a.example.com:8443", "h", list));
  EXPECT_FALSE(origin_allowed("https://.example.com", "h", list));
}

TEST_F(UpgradeTest, ConfiguredWildcardOrigin) {
  config_ = compile("  allowed_origins: [\"https://*.example.com\"]\n");
  const std::string jwt = token_for("alice");
  EXPECT_TRUE(
      decide(request({{"Authorization", "Bearer " + jwt}, {"Origin", "https://app.example.com"}}))
          .accepted.has_value());
  expect_refusal(
      decide(request({{"Authorization", "Bearer " + jwt}, {"Origin", "https://example.com"}})), 403,
      "forbidden_origin");
  expect_refusal(
      decide(request({{"Authorization", "Bearer " + jwt}, {"Origin", "http://app.example.com"}})),
      403, "forbidden_origin");
}

// A cookie is sent by the browser on its own, so with "*" any site could open a connection as
// the user (cross-site WebSocket hijacking): "*" admits cookie connections only from this host
// and from clients without an Origin; other sites must be listed explicitly.
TEST_F(UpgradeTest, StarOriginsDoNotAdmitCookiesFromOtherSites) {
  config_ = compile("  allowed_origins: [\"*\"]\n");
  const Headers cookie = {{"Cookie", "session-token=" + token_for("dave")}};
  auto with_origin = [&](Headers headers, std::string origin) {
    headers.push_back({"Origin", std::move(origin)});
    return request(headers);
  };
  UpgradeDecision hijack = decide(with_origin(cookie, "https://evil.example"));
  expect_refusal(hijack, 403, "forbidden_origin");
  EXPECT_THAT(hijack.refusal.message, HasSubstr("session-token cookie"));
  EXPECT_EQ(hijack.refusal.close_code, 4403);
  EXPECT_TRUE(decide(with_origin(cookie, "http://localhost:8080")).accepted);  // this host
  EXPECT_TRUE(decide(request(cookie)).accepted);                               // no Origin
  // A token the page sends itself is no ambient credential: "*" admits it from anywhere.
  EXPECT_TRUE(decide(with_origin(bearer(token_for("dave")), "https://evil.example")).accepted);
  EXPECT_TRUE(
      decide(with_origin({{"Sec-WebSocket-Protocol", "dispatch.v1, bearer." + token_for("dave")}},
                         "https://evil.example"))
          .accepted);

  // Listed explicitly next to "*": cookies are welcome from that site.
  config_ = compile("  allowed_origins: [\"*\", \"https://*.example.com\"]\n");
  EXPECT_TRUE(decide(with_origin(cookie, "https://app.example.com")).accepted);
  expect_refusal(decide(with_origin(cookie, "https://evil.example")), 403, "forbidden_origin");
  // Without "*", the list decides as before.
  config_ = compile("  allowed_origins: [\"https://app.example.com\"]\n");
  EXPECT_TRUE(decide(with_origin(cookie, "https://app.example.com")).accepted);
}

// ---- refusal responses ----

// Splits an HTTP response into head and body, checking Content-Length.
std::pair<std::string, std::string> split_response(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos);
  std::string head = response.substr(0, end + 4);
  std::string body = response.substr(end + 4);
  EXPECT_THAT(head, HasSubstr("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"));
  return {head, body};
}

TEST(RefusalResponse, ExactBytesOf401) {
  UpgradeRefusal refusal;
  refusal.status = 401;
  refusal.code = "missing_token";
  refusal.message = "no session token";
  const std::string body = R"({"error":"missing_token","message":"no session token"})";
  EXPECT_EQ(refusal_response(refusal),
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

TEST(RefusalResponse, The426ResponseNamesTheProtocol) {
  UpgradeRefusal refusal;
  refusal.status = 426;
  refusal.code = "upgrade_required";
  refusal.message = "connect with a WebSocket client";
  auto [head, body] = split_response(refusal_response(refusal));
  EXPECT_THAT(head, ::testing::StartsWith("HTTP/1.1 426 Upgrade Required\r\n"));
  EXPECT_THAT(head, HasSubstr("\r\nUpgrade: websocket\r\n"));
  EXPECT_THAT(head, HasSubstr("\r\nSec-WebSocket-Version: 13\r\n"));
}

TEST_F(UpgradeTest, EveryRefusalHasAStatusLineAndAJsonBody) {
  const std::string jwt = token_for("alice");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {request(bearer(jwt), {}, "GET", "/other"), "HTTP/1.1 404 Not Found\r\n"},
      {request(bearer(jwt), {}, "POST"), "HTTP/1.1 405 Method Not Allowed\r\n"},
      {request(bearer(jwt), {{"Upgrade", ""}}), "HTTP/1.1 426 Upgrade Required\r\n"},
      {request(bearer(jwt), {{"Sec-WebSocket-Key", "x"}}), "HTTP/1.1 400 Bad Request\r\n"},
      {request({{"X-Big", std::string(9000, 'b')}}),
       "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
      {request(), "HTTP/1.1 401 Unauthorized\r\n"},
      {request({{"Authorization", "Bearer " + jwt}, {"Origin", "https://evil.example\"x"}}),
       "HTTP/1.1 403 Forbidden\r\n"},
  };
  for (const auto& [request_bytes, status_line] : cases) {
    SCOPED_TRACE(status_line);
    UpgradeDecision decision = decide(request_bytes);
    ASSERT_FALSE(decision.accepted.has_value());
    const std::string response = refusal_response(decision.refusal);
    EXPECT_THAT(response, ::testing::StartsWith(status_line));
    EXPECT_THAT(response, HasSubstr("\r\nContent-Type: application/json\r\n"));
    EXPECT_THAT(response, HasSubstr("\r\nConnection: close\r\n"));
    auto [head, body] = split_response(response);
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    ASSERT_EQ(parser.parse(simdjson::padded_string(body)).get(root), simdjson::SUCCESS) << body;
    std::string_view error, message;
    ASSERT_EQ(root["error"].get_string().get(error), simdjson::SUCCESS);
    ASSERT_EQ(root["message"].get_string().get(message), simdjson::SUCCESS);
    EXPECT_EQ(error, decision.refusal.code);
    EXPECT_EQ(message, decision.refusal.message);
  }
}

}  // namespace
}  // namespace dispatch
