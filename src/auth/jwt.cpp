// JWT verification (HS256/384/512 with the secret; RS*, ES256/384, EdDSA with the public key):
// structure, algorithm, signature, then claims, in that order, so nothing in an unsigned payload
// is interpreted before the signature has been checked.
#include "auth/jwt.h"

#include <openssl/crypto.h>
#include <simdjson.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>

#include "auth/base64url.h"
#include "auth/hmac.h"
#include "auth/public_key.h"

namespace dispatch::auth {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// Returns the digest for a supported HMAC `alg`.
std::optional<HmacDigest> hmac_digest_for(std::string_view alg) {
  if (alg == "HS256") return HmacDigest::sha256;
  if (alg == "HS384") return HmacDigest::sha384;
  if (alg == "HS512") return HmacDigest::sha512;
  return std::nullopt;
}

// One parser per thread: parsing allocates nothing once the parser has grown to token size.
simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// Parses `json` into an object with unique keys (a duplicate key could be read differently by
// another JWT library, so it is refused). The object lives until the next parse on this thread.
bool parse_unique_object(const simdjson::padded_string& json, object& out) {
  element root;
  if (thread_parser().parse(json).get(root) != simdjson::SUCCESS) return false;
  if (root.get_object().get(out) != simdjson::SUCCESS) return false;
  std::vector<std::string_view> keys;
  for (const auto field : out) keys.push_back(field.key);
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) == keys.end();
}

// Reads a NumericDate as whole seconds, rounding fractions up (so `now >= value` matches the
// fractional comparison for integer `now`) and clamping to the int64 range.
std::optional<int64_t> numeric_date(element value) {
  switch (value.type()) {
    case element_type::INT64:
      return value.get_int64().value_unsafe();
    case element_type::UINT64:
      return std::numeric_limits<int64_t>::max();  // only values above INT64_MAX are UINT64
    case element_type::DOUBLE: {
      const double seconds = std::ceil(value.get_double().value_unsafe());
      if (seconds >= 9.2e18) return std::numeric_limits<int64_t>::max();
      if (seconds <= -9.2e18) return std::numeric_limits<int64_t>::min();
      return static_cast<int64_t>(seconds);
    }
    default:
      return std::nullopt;
  }
}

int64_t saturating_add(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return sum;
}

bool audience_matches(element aud, std::string_view wanted, bool& ill_typed) {
  std::string_view text;
  if (aud.get_string().get(text) == simdjson::SUCCESS) return text == wanted;
  simdjson::dom::array list;
  if (aud.get_array().get(list) != simdjson::SUCCESS) {
    ill_typed = true;
    return false;
  }
  bool found = false;
  for (const element entry : list) {
    if (entry.get_string().get(text) != simdjson::SUCCESS) {
      ill_typed = true;
      return false;
    }
    found = found || text == wanted;
  }
  return found;
}

// Claims read from the payload in one pass, checked afterwards in a fixed order.
struct ClaimScan {
  bool bad_claim = false;
  bool has_subject = false;
  std::optional<int64_t> not_before;
  std::optional<element> issuer;
  std::optional<element> audience;
};

JwtError check_claims(object claims, const JwtSettings& settings, int64_t now,
                      const std::set<std::string, std::less<>>& wanted_claims,
                      VerifiedToken& token) {
  ClaimScan scan;
  for (const auto field : claims) {
    const std::string_view name = field.key;
    const element value = field.value;
    if (name == "sub") {
      std::string_view subject;
      if (value.get_string().get(subject) == simdjson::SUCCESS && !subject.empty()) {
        token.subject.assign(subject);
        scan.has_subject = true;
      }
    } else if (name == "exp") {
      token.expires_at = numeric_date(value);
      scan.bad_claim = scan.bad_claim || !token.expires_at;
    } else if (name == "nbf") {
      scan.not_before = numeric_date(value);
      scan.bad_claim = scan.bad_claim || !scan.not_before;
    } else if (name == "iss") {
      scan.issuer = value;
    } else if (name == "aud") {
      scan.audience = value;
    } else if (name == "perms") {
      simdjson::dom::array perms;
      if (value.get_array().get(perms) != simdjson::SUCCESS) {
        scan.bad_claim = true;
      } else {
        for (const element perm : perms) {
          std::string_view text;
          if (perm.get_string().get(text) != simdjson::SUCCESS) {
            scan.bad_claim = true;
            break;
          }
          token.perms.emplace_back(text);
        }
      }
    }
    if (wanted_claims.find(name) != wanted_claims.end()) {
      NamedClaim& claim = token.claims.emplace_back();
      claim.name.assign(name);
      std::string_view text;
      if (value.get_string().get(text) == simdjson::SUCCESS) {
        claim.value = {true, std::string(text)};
      } else {
        claim.value = {false, simdjson::minify(value)};
      }
    }
  }

  if (scan.bad_claim) return JwtError::bad_claim;
  const int64_t leeway = std::max<int64_t>(0, settings.leeway.count());
  if (token.expires_at) {
    if (saturating_add(now, -leeway) >= *token.expires_at) return JwtError::expired;
  } else if (settings.require_exp) {
    return JwtError::missing_exp;
  }
  if (scan.not_before && saturating_add(now, leeway) < *scan.not_before) {
    return JwtError::not_yet_valid;
  }
  if (!settings.issuer.empty()) {
    std::string_view issuer;
    if (!scan.issuer || scan.issuer->get_string().get(issuer) != simdjson::SUCCESS ||
        issuer != settings.issuer) {
      return JwtError::wrong_issuer;
    }
  }
  if (!settings.audience.empty()) {
    if (!scan.audience) return JwtError::wrong_audience;
    bool ill_typed = false;
    const bool matches = audience_matches(*scan.audience, settings.audience, ill_typed);
    if (ill_typed) return JwtError::bad_claim;
    if (!matches) return JwtError::wrong_audience;
  }
  if (!scan.has_subject) return JwtError::missing_subject;
  return JwtError::none;
}

JwtError verify_into(std::string_view token, const JwtSettings& settings, int64_t now,
                     const std::set<std::string, std::less<>>& wanted_claims,
                     VerifiedToken& verified) {
  if (token.size() > kMaxJwtLength) return JwtError::malformed;
  const size_t first_dot = token.find('.');
  if (first_dot == std::string_view::npos) return JwtError::malformed;
  const size_t second_dot = token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos) return JwtError::malformed;
  if (token.find('.', second_dot + 1) != std::string_view::npos) return JwtError::malformed;

  const std::string_view header_text = token.substr(0, first_dot);
  const std::string_view payload_text = token.substr(first_dot + 1, second_dot - first_dot - 1);
  const std::string_view signature_text = token.substr(second_dot + 1);
  if (header_text.empty() || payload_text.empty()) return JwtError::malformed;

  const std::optional<std::string> header_json = base64url_decode(header_text);
  if (!header_json) return JwtError::malformed;
  const simdjson::padded_string padded_header(*header_json);
  object header;
  if (!parse_unique_object(padded_header, header)) return JwtError::malformed;
  std::string_view alg;
  if (header["alg"].get_string().get(alg) != simdjson::SUCCESS) return JwtError::malformed;
  // `crit` names extensions the recipient must understand (RFC 7515 4.1.11); we support none.
  if (header["crit"].error() != simdjson::NO_SUCH_FIELD) return JwtError::malformed;
  // The algorithm must fit what is configured: HS* the secret, anything else the public key's
  // own family. A token never picks how it is checked.
  const std::optional<HmacDigest> digest = hmac_digest_for(alg);
  const bool by_public_key = !digest && settings.public_key && settings.public_key->accepts(alg);
  if (!digest && !by_public_key) return JwtError::unsupported_algorithm;
  if (digest && settings.secret.empty() && settings.public_key) {
    return JwtError::unsupported_algorithm;  // only public-key tokens are accepted
  }

  const std::optional<std::string> payload_json = base64url_decode(payload_text);
  const std::optional<std::string> signature = base64url_decode(signature_text);
  if (!payload_json || !signature) return JwtError::malformed;

  const std::string_view signing_input = token.substr(0, second_dot);
  if (by_public_key) {
    if (!settings.public_key->verify(alg, signing_input, *signature)) {
      return JwtError::bad_signature;
    }
  } else {
    Mac expected;
    if (settings.secret.empty() ||
        !compute_hmac(*digest, settings.secret, signing_input, expected) ||
        signature->size() != expected.size ||
        CRYPTO_memcmp(signature->data(), expected.bytes, expected.size) != 0) {
      return JwtError::bad_signature;
    }
  }

  const simdjson::padded_string padded_payload(*payload_json);
  object claims;
  if (!parse_unique_object(padded_payload, claims)) return JwtError::malformed;
  return check_claims(claims, settings, now, wanted_claims, verified);
}

}  // namespace

std::string_view describe(JwtError error) {
  switch (error) {
    case JwtError::none:
      return "token is valid";
    case JwtError::malformed:
      return "token is malformed";
    case JwtError::unsupported_algorithm:
      return "token uses an unsupported signing algorithm";
    case JwtError::bad_signature:
      return "token signature is invalid";
    case JwtError::expired:
      return "token has expired";
    case JwtError::not_yet_valid:
      return "token is not valid yet";
    case JwtError::missing_exp:
      return "token has no expiry (exp) but one is required";
    case JwtError::wrong_issuer:
      return "token issuer (iss) is not accepted";
    case JwtError::wrong_audience:
      return "token audience (aud) is not accepted";
    case JwtError::missing_subject:
      return "token has no subject (sub must be a non-empty string)";
    case JwtError::bad_claim:
      return "token has a claim of the wrong type";
  }
  return "token is invalid";
}

JwtResult verify_jwt(std::string_view token, const JwtSettings& settings, int64_t now_unix_seconds,
                     const std::set<std::string, std::less<>>& wanted_claims) {
  JwtResult result;
  result.error = verify_into(token, settings, now_unix_seconds, wanted_claims, result.token);
  if (result.error != JwtError::none) result.token = VerifiedToken{};
  return result;
}

std::string sign_jwt_hs256(std::string_view claims_json, std::string_view secret) {
  std::string token = base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  token.push_back('.');
  token += base64url_encode(claims_json);
  Mac mac;
  if (!compute_hmac(HmacDigest::sha256, secret, token, mac)) return {};
  token.push_back('.');
  token += base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.bytes), mac.size));
  return token;
}

}  // namespace dispatch::auth
