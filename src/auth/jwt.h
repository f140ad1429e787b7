// Verification of JSON Web Tokens for session and event tokens: HMAC-signed (HS256/HS384/HS512)
// with the secret, or signed with a private key whose public key the config names (RS*, ES256,
// ES384, EdDSA; auth/public_key.h). The algorithm a token names must fit what is configured.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dispatch::auth {

class PublicKey;

struct JwtSettings {
  std::string secret;                           // HMAC key; an empty secret never verifies anything
  std::shared_ptr<const PublicKey> public_key;  // verifies its own family's algorithms only
  std::string issuer;                           // when non-empty, `iss` must equal it
  std::string audience;  // when non-empty, `aud` (string or array of strings) must contain it
  std::chrono::seconds leeway{30};
  bool require_exp = false;
};

enum class JwtError {
  none,
  malformed,
  unsupported_algorithm,
  bad_signature,
  expired,
  not_yet_valid,
  missing_exp,
  wrong_issuer,
  wrong_audience,
  missing_subject,
  bad_claim,
};

// A human sentence for logs and HTTP bodies; never contains the token or the secret.
std::string_view describe(JwtError error);

// A claim's value as templates and checks use it: a string's text (unescaped), or the compact
// JSON of any other value. Taken from the token once, when it is verified.
struct ClaimValue {
  bool is_string = false;
  std::string text;
  bool operator==(const ClaimValue&) const = default;
};
struct NamedClaim {
  std::string name;
  ClaimValue value;
  bool operator==(const NamedClaim&) const = default;
};

struct VerifiedToken {
  std::string subject;                // non-empty string `sub`
  std::optional<int64_t> expires_at;  // `exp` in unix seconds (fractions rounded up)
  std::vector<std::string> perms;     // `perms` claim, an array of strings when present
  // Only the claims named in `wanted_claims`, in token order.
  std::vector<NamedClaim> claims;
};

struct JwtResult {
  JwtError error = JwtError::none;
  VerifiedToken token;  // meaningful only when error == none
};

// Longest token accepted; anything longer is `malformed` before any decoding.
inline constexpr size_t kMaxJwtLength = 8 * 1024;

// Verifies signature and standard claims. Never throws; the token is not retained.
JwtResult verify_jwt(std::string_view token, const JwtSettings& settings, int64_t now_unix_seconds,
                     const std::set<std::string, std::less<>>& wanted_claims);

// Signs `claims_json` (used verbatim as the payload) with HS256; for `dispatch token` and tests.
std::string sign_jwt_hs256(std::string_view claims_json, std::string_view secret);

}  // namespace dispatch::auth
