// A public key that verifies asymmetric JWT signatures, read once from a PEM file when the config
// is compiled (`auth.jwt.public_key_file`). A key verifies only its own family's algorithms — an
// RSA key (2048 bits or more) RS256/384/512, a P-256 key ES256, a P-384 key ES384, an Ed25519 key
// EdDSA — so a token cannot choose how it is checked (no algorithm confusion: an HS256 token is
// never checked against the key's bytes, `none` never passes). OpenSSL 3 does the cryptography;
// verifying is thread-safe (the key is immutable once loaded).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace dispatch::auth {

class PublicKey {
 public:
  enum class Family { rsa, ec_p256, ec_p384, ed25519 };

  // The key of a PEM "PUBLIC KEY" block; nullptr with `error` saying why otherwise.
  static std::shared_ptr<const PublicKey> from_pem(std::string_view pem, std::string& error);
  // Reads a regular file of at most 64 KiB, then from_pem().
  static std::shared_ptr<const PublicKey> from_pem_file(const std::string& path,
                                                        std::string& error);

  ~PublicKey();
  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;

  Family family() const { return family_; }
  // The JWS `alg` values this key verifies, e.g. "RS256, RS384, RS512".
  std::string_view algorithms() const;
  bool accepts(std::string_view alg) const;
  // Whether `signature` (as a JWS carries it: RSA PKCS#1 v1.5, ECDSA r||s, Ed25519) signs
  // `signing_input` under `alg`; false for an alg the key does not accept.
  bool verify(std::string_view alg, std::string_view signing_input,
              std::string_view signature) const;

 private:
  struct Key;
  PublicKey(std::unique_ptr<Key> key, Family family);

  std::unique_ptr<Key> key_;
  Family family_;
};

}  // namespace dispatch::auth
