// Unit tests for base64url and HMAC JWT verification.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "auth/base64url.h"
#include "auth/jwt.h"

namespace dispatch::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000;
const std::string kSecret = "test-secret-with-enough-entropy";
const std::set<std::string, std::less<>> kNoClaims;

JwtSettings settings_with_secret(std::string secret = kSecret) {
  JwtSettings settings;
  settings.secret = std::move(secret);
  return settings;
}

// Builds a token independently of sign_jwt_hs256: any header, any digest.
std::string hand_built_token(std::string_view header_json, std::string_view claims_json,
                             const EVP_MD* digest, std::string_view secret) {
  std::string signing_input = base64url_encode(header_json) + "." + base64url_encode(claims_json);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(digest, secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &mac_size);
  return signing_input + "." +
         base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), mac_size));
}

JwtError verify_error(std::string_view token, const JwtSettings& settings = settings_with_secret(),
                      int64_t now = kNow) {
  return verify_jwt(token, settings, now, kNoClaims).error;
}

JwtError claims_error(std::string_view claims_json,
                      const JwtSettings& settings = settings_with_secret(), int64_t now = kNow) {
  return verify_error(sign_jwt_hs256(claims_json, settings.secret), settings, now);
}

// ---- base64url ----

TEST(Base64Url, EncodesWithoutPadding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("\xfb\xff\xfe"), "-__-");
}

TEST(Base64Url, RoundTripsAllByteValues) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (size_t length = 0; length <= bytes.size(); length += 37) {
    const std::string slice = bytes.substr(0, length);
    EXPECT_EQ(base64url_decode(base64url_encode(slice)), slice);
  }
}

TEST(Base64Url, RejectsInvalidInput) {
  EXPECT_FALSE(base64url_decode("Zg=="));  // padding
  EXPECT_FALSE(base64url_decode("Zm8="));
  EXPECT_FALSE(base64url_decode("+/+/"));  // standard alphabet
  EXPECT_FALSE(base64url_decode("Zm 9v"));
  EXPECT_FALSE(base64url_decode("Z"));   // impossible length
  EXPECT_FALSE(base64url_decode("Zh"));  // non-zero trailing bits
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)));
  EXPECT_EQ(base64url_decode(""), "");
}

// ---- known vectors ----

TEST(Jwt, AcceptsJwtIoExampleToken) {
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
      "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  const JwtResult result =
      verify_jwt(token, settings_with_secret("your-256-bit-secret"), kNow, {"name", "iat"});
  ASSERT_EQ(result.error, JwtError::none);
  EXPECT_EQ(result.token.subject, "1234567890");
  EXPECT_FALSE(result.token.expires_at);
  EXPECT_TRUE(result.token.perms.empty());
  // A string claim is kept as its text, any other value as compact JSON.
  const std::vector<NamedClaim> expected = {{"name", {true, "John Doe"}},
                                            {"iat", {false, "1516239022"}}};
  EXPECT_EQ(result.token.claims, expected);

  EXPECT_EQ(verify_error(token, settings_with_secret("not-the-secret")), JwtError::bad_signature);
}

TEST(Jwt, ChecksRfc7515AppendixA1Signature) {
  // Header and payload contain CR LF whitespace; the key is a JWK "k" value. The token has no
  // `sub`, so a correct signature shows up as missing_subject (or expired, later).
  const std::string token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
      "fQ."
      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const std::optional<std::string> key = base64url_decode(
      "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  ASSERT_TRUE(key);
  JwtSettings settings = settings_with_secret(*key);
  settings.leeway = std::chrono::seconds(0);
  EXPECT_EQ(verify_error(token, settings, 1300819379), JwtError::missing_subject);
  EXPECT_EQ(verify_error(token, settings, 1300819380), JwtError::expired);
  settings.issuer = "joe";
  EXPECT_EQ(verify_error(token, settings, 1300819000), JwtError::missing_subject);
  settings.issuer = "jane";
  EXPECT_EQ(verify_error(token, settings, 1300819000), JwtError::wrong_issuer);
}

// ---- algorithms and signatures ----

TEST(Jwt, AcceptsOwnHs256Tokens) {
  const std::string token =
      sign_jwt_hs256(R"({"sub":"alice","exp":1700000600,"perms":["kick_user","ban"]})", kSecret);
  const JwtResult result = verify_jwt(token, settings_with_secret(), kNow, kNoClaims);
  ASSERT_EQ(result.error, JwtError::none);
  EXPECT_EQ(result.token.subject, "alice");
  EXPECT_EQ(result.token.expires_at, 1700000600);
  EXPECT_EQ(result.token.perms, (std::vector<std::string>{"kick_user", "ban"}));
  EXPECT_TRUE(result.token.claims.empty());
}

TEST(Jwt, AcceptsHs384AndHs512) {
  const std::string claims = R"({"sub":"bob"})";
  const std::string hs384 =
      hand_built_token(R"({"alg":"HS384","typ":"JWT"})", claims, EVP_sha384(), kSecret);
  const std::string hs512 = hand_built_token(R"({"alg":"HS512"})", claims, EVP_sha512(), kSecret);
  EXPECT_EQ(verify_error(hs384), JwtError::none);
  EXPECT_EQ(verify_error(hs512), JwtError::none);
  EXPECT_EQ(verify_jwt(hs512, settings_with_secret(), kNow, kNoClaims).token.subject, "bob");
  // A digest that does not match the declared alg fails.
  EXPECT_EQ(verify_error(hand_built_token(R"({"alg":"HS512"})", claims, EVP_sha256(), kSecret)),
            JwtError::bad_signature);
}

TEST(Jwt, RejectsUnsupportedAlgorithms) {
  const std::string claims = R"({"sub":"mallory"})";
  const std::string none_token =
      base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(claims) + ".";
  EXPECT_EQ(verify_error(none_token), JwtError::unsupported_algorithm);
  EXPECT_EQ(verify_error(hand_built_token(R"({"alg":"RS256"})", claims, EVP_sha256(), kSecret)),
            JwtError::unsupported_algorithm);
  EXPECT_EQ(verify_error(hand_built_token(R"({"alg":"hs256"})", claims, EVP_sha256(), kSecret)),
            JwtError::unsupported_algorithm);
  EXPECT_EQ(verify_error(hand_built_token(R"({"typ":"JWT"})", claims, EVP_sha256(), kSecret)),
            JwtError::malformed);
  EXPECT_EQ(verify_error(hand_built_token(R"({"alg":256})", claims, EVP_sha256(), kSecret)),
            JwtError::malformed);
}

TEST(Jwt, RejectsWrongSecretAndTampering) {
  const std::string token = sign_jwt_hs256(R"({"sub":"alice"})", kSecret);
  EXPECT_EQ(verify_error(token, settings_with_secret("other-secret")), JwtError::bad_signature);
  EXPECT_EQ(verify_error(token, settings_with_secret("")), JwtError::bad_signature);

  const size_t first_dot = token.find('.');
  const size_t second_dot = token.find('.', first_dot + 1);
  const std::string tampered = token.substr(0, first_dot + 1) +
                               base64url_encode(R"({"sub":"admin"})") + token.substr(second_dot);
  EXPECT_EQ(verify_error(tampered), JwtError::bad_signature);

  const std::string truncated_signature = token.substr(0, token.size() - 3);  // 30 bytes
  EXPECT_EQ(verify_error(truncated_signature), JwtError::bad_signature);
  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'Q' : 'A';  // still canonical base64url
  EXPECT_EQ(verify_error(flipped), JwtError::bad_signature);
}

// ---- structure ----

TEST(Jwt, RejectsMalformedStructure) {
  const std::string token = sign_jwt_hs256(R"({"sub":"alice"})", kSecret);
  const size_t second_dot = token.rfind('.');
  EXPECT_EQ(verify_error(""), JwtError::malformed);
  EXPECT_EQ(verify_error("abc"), JwtError::malformed);
  EXPECT_EQ(verify_error(token.substr(0, second_dot)), JwtError::malformed);  // 2 segments
  EXPECT_EQ(verify_error(token + ".AAAA"), JwtError::malformed);              // 4 segments
  EXPECT_EQ(verify_error(token + "="), JwtError::malformed);                  // padding
  EXPECT_EQ(verify_error("e*J." + token.substr(token.find('.') + 1)), JwtError::malformed);
  EXPECT_EQ(verify_error(".." + token.substr(second_dot + 1)), JwtError::malformed);
  EXPECT_EQ(verify_error(" " + token), JwtError::malformed);
}

TEST(Jwt, RejectsNonJsonOrDuplicateKeys) {
  EXPECT_EQ(verify_error(hand_built_token("not json", R"({"sub":"a"})", EVP_sha256(), kSecret)),
            JwtError::malformed);
  EXPECT_EQ(verify_error(hand_built_token(R"(["HS256"])", R"({"sub":"a"})", EVP_sha256(), kSecret)),
            JwtError::malformed);
  EXPECT_EQ(verify_error(hand_built_token(R"({"alg":"HS256","alg":"none"})", R"({"sub":"a"})",
                                          EVP_sha256(), kSecret)),
            JwtError::malformed);
  EXPECT_EQ(verify_error(hand_built_token(R"({"alg":"HS256","crit":["exp"]})", R"({"sub":"a"})",
                                          EVP_sha256(), kSecret)),
            JwtError::malformed);
  EXPECT_EQ(claims_error("not json"), JwtError::malformed);
  EXPECT_EQ(claims_error(R"("alice")"), JwtError::malformed);
  EXPECT_EQ(claims_error(R"({"sub":"alice","sub":"admin"})"), JwtError::malformed);
}

TEST(Jwt, RejectsHugeToken) {
  const std::string padding(kMaxJwtLength, 'x');
  const std::string huge = sign_jwt_hs256(R"({"sub":"alice","pad":")" + padding + "\"}", kSecret);
  EXPECT_EQ(verify_error(huge), JwtError::malformed);
  const std::string fits = sign_jwt_hs256(R"({"sub":"alice","pad":"x"})", kSecret);
  EXPECT_LE(fits.size(), kMaxJwtLength);
  EXPECT_EQ(verify_error(fits), JwtError::none);
}

// ---- time claims ----

TEST(Jwt, EnforcesExpWithLeeway) {
  JwtSettings settings = settings_with_secret();  // leeway 30 s
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":1700000001})", settings), JwtError::none);
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":1699999971})", settings), JwtError::none);
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":1699999970})", settings), JwtError::expired);
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":1000})", settings), JwtError::expired);
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":1699999970.5})", settings), JwtError::none);
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":1.69999997e9})", settings), JwtError::expired);
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":18446744073709551615})", settings), JwtError::none);
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":1e20})", settings), JwtError::none);
  settings.leeway = std::chrono::seconds(0);
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":1700000000})", settings), JwtError::expired);
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":1700000000.25})", settings), JwtError::none);
}

TEST(Jwt, ReportsFractionalExpRoundedUp) {
  const JwtResult result = verify_jwt(sign_jwt_hs256(R"({"sub":"a","exp":1700000100.2})", kSecret),
                                      settings_with_secret(), kNow, kNoClaims);
  ASSERT_EQ(result.error, JwtError::none);
  EXPECT_EQ(result.token.expires_at, 1700000101);
}

TEST(Jwt, EnforcesNbfWithLeeway) {
  EXPECT_EQ(claims_error(R"({"sub":"a","nbf":1700000030})"), JwtError::none);
  EXPECT_EQ(claims_error(R"({"sub":"a","nbf":1700000031})"), JwtError::not_yet_valid);
  EXPECT_EQ(claims_error(R"({"sub":"a","nbf":1700000030.5})"), JwtError::not_yet_valid);
  EXPECT_EQ(claims_error(R"({"sub":"a","nbf":1600000000})"), JwtError::none);
}

TEST(Jwt, RequiresExpWhenConfigured) {
  JwtSettings settings = settings_with_secret();
  EXPECT_EQ(claims_error(R"({"sub":"a"})", settings), JwtError::none);
  settings.require_exp = true;
  EXPECT_EQ(claims_error(R"({"sub":"a"})", settings), JwtError::missing_exp);
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":1700000100})", settings), JwtError::none);
}

TEST(Jwt, RejectsNonNumericTimeClaims) {
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":"1700000100"})"), JwtError::bad_claim);
  EXPECT_EQ(claims_error(R"({"sub":"a","nbf":null})"), JwtError::bad_claim);
  EXPECT_EQ(claims_error(R"({"sub":"a","exp":true})"), JwtError::bad_claim);
}

// ---- issuer, audience, subject, perms ----

TEST(Jwt, ChecksIssuer) {
  JwtSettings settings = settings_with_secret();
  settings.issuer = "https://auth.example.com";
  EXPECT_EQ(claims_error(R"({"sub":"a","iss":"https://auth.example.com"})", settings),
            JwtError::none);
  EXPECT_EQ(claims_error(R"({"sub":"a","iss":"https://evil.example.com"})", settings),
            JwtError::wrong_issuer);
  EXPECT_EQ(claims_error(R"({"sub":"a"})", settings), JwtError::wrong_issuer);
  EXPECT_EQ(claims_error(R"({"sub":"a","iss":["https://auth.example.com"]})", settings),
            JwtError::wrong_issuer);
  // Not configured: any iss is accepted.
  EXPECT_EQ(claims_error(R"({"sub":"a","iss":"anyone"})"), JwtError::none);
}

TEST(Jwt, ChecksAudienceStringOrArray) {
  JwtSettings settings = settings_with_secret();
  settings.audience = "dispatch";
  EXPECT_EQ(claims_error(R"({"sub":"a","aud":"dispatch"})", settings), JwtError::none);
  EXPECT_EQ(claims_error(R"({"sub":"a","aud":["billing","dispatch"]})", settings), JwtError::none);
  EXPECT_EQ(claims_error(R"({"sub":"a","aud":"billing"})", settings), JwtError::wrong_audience);
  EXPECT_EQ(claims_error(R"({"sub":"a","aud":["billing"]})", settings), JwtError::wrong_audience);
  EXPECT_EQ(claims_error(R"({"sub":"a","aud":[]})", settings), JwtError::wrong_audience);
  EXPECT_EQ(claims_error(R"({"sub":"a"})", settings), JwtError::wrong_audience);
  EXPECT_EQ(claims_error(R"({"sub":"a","aud":["dispatch",7]})", settings), JwtError::bad_claim);
  EXPECT_EQ(claims_error(R"({"sub":"a","aud":{"x":"dispatch"}})", settings), JwtError::bad_claim);
}

TEST(Jwt, RequiresNonEmptyStringSubject) {
  EXPECT_EQ(claims_error(R"({})"), JwtError::missing_subject);
  EXPECT_EQ(claims_error(R"({"sub":""})"), JwtError::missing_subject);
  EXPECT_EQ(claims_error(R"({"sub":42})"), JwtError::missing_subject);
  EXPECT_EQ(claims_error(R"({"sub":null})"), JwtError::missing_subject);
  EXPECT_EQ(claims_error(R"({"sub":["alice"]})"), JwtError::missing_subject);
}

TEST(Jwt, RequiresPermsToBeArrayOfStrings) {
  EXPECT_EQ(claims_error(R"({"sub":"a","perms":[]})"), JwtError::none);
  EXPECT_EQ(claims_error(R"({"sub":"a","perms":"kick_user"})"), JwtError::bad_claim);
  EXPECT_EQ(claims_error(R"({"sub":"a","perms":["kick_user",1]})"), JwtError::bad_claim);
  EXPECT_EQ(claims_error(R"({"sub":"a","perms":{"kick_user":true}})"), JwtError::bad_claim);
}

// ---- wanted claims ----

TEST(Jwt, ReturnsOnlyWantedClaimsAsCompactJson) {
  const std::string token = sign_jwt_hs256(
      R"({"sub":"alice", "exp": 1700000100, "perms": ["a"], "team" : "red \"one\"",
          "level": 3, "score": 2.5, "tags": [ "x", { "y" : null } ], "admin": false,
          "meta": {"k": [1, 2]}})",
      kSecret);
  const JwtResult result =
      verify_jwt(token, settings_with_secret(), kNow,
                 {"team", "level", "score", "tags", "admin", "meta", "sub", "absent"});
  ASSERT_EQ(result.error, JwtError::none);
  const std::vector<NamedClaim> expected = {{"sub", {true, "alice"}},
                                            {"team", {true, R"(red "one")"}},
                                            {"level", {false, "3"}},
                                            {"score", {false, "2.5"}},
                                            {"tags", {false, R"(["x",{"y":null}])"}},
                                            {"admin", {false, "false"}},
                                            {"meta", {false, R"({"k":[1,2]})"}}};
  EXPECT_EQ(result.token.claims, expected);
  // sub, exp and perms are extracted whether wanted or not.
  EXPECT_EQ(result.token.subject, "alice");
  EXPECT_EQ(result.token.expires_at, 1700000100);
  EXPECT_EQ(result.token.perms, std::vector<std::string>{"a"});
}

TEST(Jwt, FailedVerificationReturnsNoClaims) {
  const JwtResult result =
      verify_jwt(sign_jwt_hs256(R"({"sub":"a","exp":1,"team":"red"})", kSecret),
                 settings_with_secret(), kNow, {"team"});
  EXPECT_EQ(result.error, JwtError::expired);
  EXPECT_TRUE(result.token.subject.empty());
  EXPECT_TRUE(result.token.claims.empty());
}

TEST(Jwt, DescribesEveryErrorWithoutSecrets) {
  for (int code = 0; code <= static_cast<int>(JwtError::bad_claim); ++code) {
    const std::string_view text = describe(static_cast<JwtError>(code));
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.find(kSecret), std::string_view::npos);
  }
  EXPECT_EQ(describe(JwtError::expired), "token has expired");
}

}  // namespace
}  // namespace dispatch::auth
