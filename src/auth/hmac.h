// HMAC-SHA2 for JWT signatures, with the key set up once per thread and secret.
//
// OpenSSL 3's one-shot HMAC() fetches the algorithm from the provider store and keys a fresh
// context on every call; at one token per handshake that was a measurable part of a handshake.
// Each thread keeps a few keyed contexts (one per digest and secret in use) and re-initialises
// one per message, which OpenSSL does without setting the key up again.
#pragma once

#include <cstddef>
#include <string_view>

namespace dispatch::auth {

enum class HmacDigest { sha256, sha384, sha512 };

struct Mac {
  unsigned char bytes[64];  // the largest digest, SHA-512
  size_t size = 0;
};

// Returns false when OpenSSL fails (it should not) or the secret is empty.
bool compute_hmac(HmacDigest digest, std::string_view secret, std::string_view data, Mac& mac);

}  // namespace dispatch::auth
