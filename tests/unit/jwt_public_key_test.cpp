// Session tokens signed with a private key (auth/public_key.h): RS256/384/512, ES256/384 and EdDSA
// verify against the configured public key; each key accepts only its own family's algorithms,
// so algorithm-confusion tokens (HS256 keyed with the public key's PEM, `none`, another curve)
// fail; bad PEM files are refused with a reason. Keys are generated per test run with OpenSSL.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "auth/base64url.h"
#include "auth/jwt.h"
#include "auth/public_key.h"

namespace dispatch::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000;
const std::set<std::string, std::less<>> kNoClaims;
const std::string kClaims = R"({"sub":"alice","exp":1700000600})";

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

KeyPtr generate(const char* type, const char* curve_or_null, size_t rsa_bits = 2048) {
  if (std::string_view(type) == "RSA")
    return KeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", rsa_bits));
  if (curve_or_null) return KeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve_or_null));
  return KeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, type));
}

std::string public_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

std::string private_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

// A signature as OpenSSL makes it (DER for ECDSA).
std::string raw_sign(EVP_PKEY* key, const EVP_MD* digest, std::string_view input) {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestSignInit(context, nullptr, digest, nullptr, key);
  size_t size = 0;
  EVP_DigestSign(context, nullptr, &size, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string signature(size, '\0');
  EVP_DigestSign(context, reinterpret_cast<unsigned char*>(signature.data()), &size,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  EVP_MD_CTX_free(context);
  signature.resize(size);
  return signature;
}

// DER ECDSA signature → the JWS form, r||s with `half` bytes each.
std::string der_to_jws(const std::string& der, size_t half) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* signature = d2i_ECDSA_SIG(nullptr, &bytes, static_cast<long>(der.size()));
  std::string raw(2 * half, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(signature), reinterpret_cast<unsigned char*>(raw.data()),
               static_cast<int>(half));
  BN_bn2binpad(ECDSA_SIG_get0_s(signature), reinterpret_cast<unsigned char*>(raw.data()) + half,
               static_cast<int>(half));
  ECDSA_SIG_free(signature);
  return raw;
}

std::string token(std::string_view alg, EVP_PKEY* key, std::string_view claims = kClaims) {
  const std::string input =
      base64url_encode(std::string(R"({"alg":")") + std::string(alg) + R"(","typ":"JWT"})") + "." +
      base64url_encode(claims);
  std::string signature;
  if (alg == "EdDSA") {
    signature = raw_sign(key, nullptr, input);
  } else {
    const EVP_MD* digest = alg.ends_with("256")   ? EVP_sha256()
                           : alg.ends_with("384") ? EVP_sha384()
                                                  : EVP_sha512();
    signature = raw_sign(key, digest, input);
    if (alg.starts_with("ES")) signature = der_to_jws(signature, alg == "ES256" ? 32 : 48);
  }
  return input + "." + base64url_encode(signature);
}

std::string hs256_token(std::string_view secret, std::string_view claims = kClaims) {
  const std::string input =
      base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &size);
  return input + "." + base64url_encode(std::string_view(reinterpret_cast<char*>(mac), size));
}

JwtSettings with_key(EVP_PKEY* key, std::string secret = "") {
  std::string error;
  JwtSettings settings;
  settings.secret = std::move(secret);
  settings.public_key = PublicKey::from_pem(public_pem(key), error);
  EXPECT_TRUE(settings.public_key) << error;
  return settings;
}

JwtError verify(std::string_view token, const JwtSettings& settings) {
  return verify_jwt(token, settings, kNow, kNoClaims).error;
}

TEST(JwtPublicKey, EachFamilyVerifiesItsOwnAlgorithms) {
  KeyPtr rsa = generate("RSA", nullptr);
  KeyPtr p256 = generate("EC", "P-256");
  KeyPtr p384 = generate("EC", "P-384");
  KeyPtr ed = generate("ED25519", nullptr);
  for (const char* alg : {"RS256", "RS384", "RS512"}) {
    EXPECT_EQ(verify(token(alg, rsa.get()), with_key(rsa.get())), JwtError::none) << alg;
  }
  EXPECT_EQ(verify(token("ES256", p256.get()), with_key(p256.get())), JwtError::none);
  EXPECT_EQ(verify(token("ES384", p384.get()), with_key(p384.get())), JwtError::none);
  EXPECT_EQ(verify(token("EdDSA", ed.get()), with_key(ed.get())), JwtError::none);

  const JwtResult result = verify_jwt(token("EdDSA", ed.get()), with_key(ed.get()), kNow, {});
  EXPECT_EQ(result.token.subject, "alice");
  EXPECT_EQ(result.token.expires_at, 1700000600);
}

TEST(JwtPublicKey, AnotherFamilysAlgorithmIsUnsupported) {
  KeyPtr rsa = generate("RSA", nullptr);
  KeyPtr p256 = generate("EC", "P-256");
  KeyPtr p384 = generate("EC", "P-384");
  // ES384 signed by a P-384 key, checked by a server whose key is P-256.
  EXPECT_EQ(verify(token("ES384", p384.get()), with_key(p256.get())),
            JwtError::unsupported_algorithm);
  EXPECT_EQ(verify(token("ES256", p256.get()), with_key(rsa.get())),
            JwtError::unsupported_algorithm);
  EXPECT_EQ(verify(token("RS256", rsa.get()), with_key(p256.get())),
            JwtError::unsupported_algorithm);
}

TEST(JwtPublicKey, TokensSignedWithAnotherKeyOrChangedFail) {
  KeyPtr ours = generate("ED25519", nullptr);
  KeyPtr theirs = generate("ED25519", nullptr);
  EXPECT_EQ(verify(token("EdDSA", theirs.get()), with_key(ours.get())), JwtError::bad_signature);

  KeyPtr rsa = generate("RSA", nullptr);
  std::string changed = token("RS256", rsa.get());
  const size_t payload = changed.find('.') + 1;
  changed.replace(payload, changed.find('.', payload) - payload,
                  base64url_encode(R"({"sub":"mallory","exp":1700000600})"));
  EXPECT_EQ(verify(changed, with_key(rsa.get())), JwtError::bad_signature);

  // An ECDSA signature in DER (not the JWS r||s form) is not accepted.
  KeyPtr p256 = generate("EC", "P-256");
  const std::string input =
      base64url_encode(R"({"alg":"ES256"})") + "." + base64url_encode(kClaims);
  const std::string der = input + "." + base64url_encode(raw_sign(p256.get(), EVP_sha256(), input));
  EXPECT_EQ(verify(der, with_key(p256.get())), JwtError::bad_signature);
}

TEST(JwtPublicKey, AlgorithmConfusionFails) {
  KeyPtr rsa = generate("RSA", nullptr);
  const std::string pem = public_pem(rsa.get());
  // HS256 keyed with the public key's own PEM text: refused with only a public key configured …
  EXPECT_EQ(verify(hs256_token(pem), with_key(rsa.get())), JwtError::unsupported_algorithm);
  // … and, with a secret beside the key, checked against the secret only.
  EXPECT_EQ(verify(hs256_token(pem), with_key(rsa.get(), "the-real-hmac-secret-0123456789ab")),
            JwtError::bad_signature);
  EXPECT_EQ(verify(hs256_token("the-real-hmac-secret-0123456789ab"),
                   with_key(rsa.get(), "the-real-hmac-secret-0123456789ab")),
            JwtError::none);
  // `none`, with or without a signature.
  const std::string unsigned_input =
      base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(kClaims);
  EXPECT_EQ(verify(unsigned_input + ".", with_key(rsa.get())), JwtError::unsupported_algorithm);
  EXPECT_EQ(verify(unsigned_input + ".c2ln", with_key(rsa.get())), JwtError::unsupported_algorithm);
  // A public-key token where only a secret is configured.
  JwtSettings secret_only;
  secret_only.secret = "the-real-hmac-secret-0123456789ab";
  EXPECT_EQ(verify(token("RS256", rsa.get()), secret_only), JwtError::unsupported_algorithm);
}

TEST(JwtPublicKey, BadKeyFilesAreRefusedWithAReason) {
  std::string error;
  KeyPtr ed = generate("ED25519", nullptr);
  EXPECT_FALSE(PublicKey::from_pem(private_pem(ed.get()), error));
  EXPECT_NE(error.find("PRIVATE key"), std::string::npos) << error;
  EXPECT_FALSE(PublicKey::from_pem("not a key", error));
  EXPECT_NE(error.find("BEGIN PUBLIC KEY"), std::string::npos) << error;
  KeyPtr small = generate("RSA", nullptr, 1024);
  EXPECT_FALSE(PublicKey::from_pem(public_pem(small.get()), error));
  EXPECT_NE(error.find("at least 2048"), std::string::npos) << error;
  KeyPtr secp256k1 = generate("EC", "secp256k1");
  EXPECT_FALSE(PublicKey::from_pem(public_pem(secp256k1.get()), error));
  EXPECT_NE(error.find("not supported"), std::string::npos) << error;
  EXPECT_FALSE(PublicKey::from_pem_file("/nonexistent/key.pem", error));
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  EXPECT_FALSE(PublicKey::from_pem_file("/", error));
  EXPECT_NE(error.find("cannot be read"), std::string::npos) << error;

  const std::string path = ::testing::TempDir() + "dispatch_public_key_test.pem";
  std::ofstream(path) << public_pem(ed.get());
  auto key = PublicKey::from_pem_file(path, error);
  ASSERT_TRUE(key) << error;
  EXPECT_EQ(key->family(), PublicKey::Family::ed25519);
  EXPECT_EQ(key->algorithms(), "EdDSA");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace dispatch::auth
