#include "auth/public_key.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstring>

#include "config/file_reading.h"

namespace dispatch::auth {

namespace {

constexpr size_t max_pem_size = 64 * 1024;
constexpr int min_rsa_bits = 2048;

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct ContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
struct SignatureDeleter {
  void operator()(ECDSA_SIG* signature) const { ECDSA_SIG_free(signature); }
};

// The digest of an RS*/ES* algorithm; nullptr for EdDSA (Ed25519 hashes internally).
const EVP_MD* digest_of(std::string_view alg) {
  if (alg == "RS256" || alg == "ES256") return EVP_sha256();
  if (alg == "RS384" || alg == "ES384") return EVP_sha384();
  if (alg == "RS512") return EVP_sha512();
  return nullptr;
}

// A JWS ECDSA signature is r||s, each `half` bytes; OpenSSL verifies DER.
std::string ecdsa_der(std::string_view raw, size_t half) {
  if (raw.size() != 2 * half) return {};
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  std::unique_ptr<ECDSA_SIG, SignatureDeleter> signature(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes, static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(bytes + half, static_cast<int>(half), nullptr);
  if (!signature || !r || !s || ECDSA_SIG_set0(signature.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return {};
  }
  const int length = i2d_ECDSA_SIG(signature.get(), nullptr);
  if (length <= 0) return {};
  std::string der(static_cast<size_t>(length), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_ECDSA_SIG(signature.get(), &out);
  return der;
}

}  // namespace

struct PublicKey::Key {
  std::unique_ptr<EVP_PKEY, KeyDeleter> pkey;
};

PublicKey::PublicKey(std::unique_ptr<Key> key, Family family)
    : key_(std::move(key)), family_(family) {}

PublicKey::~PublicKey() = default;

std::shared_ptr<const PublicKey> PublicKey::from_pem(std::string_view pem, std::string& error) {
  if (pem.size() > max_pem_size) {
    error = "the file is larger than 64 KiB: it is not a PEM public key";
    return nullptr;
  }
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    error =
        "it holds a PRIVATE key: give the server only the public key "
        "(`openssl pkey -in private.pem -pubout -out public.pem`)";
    return nullptr;
  }
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::unique_ptr<EVP_PKEY, KeyDeleter> pkey(
      bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!pkey) {
    error = "it is not a PEM public key (a \"-----BEGIN PUBLIC KEY-----\" block)";
    return nullptr;
  }
  Family family;
  switch (EVP_PKEY_get_base_id(pkey.get())) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(pkey.get()) < min_rsa_bits) {
        error = "the RSA key has " + std::to_string(EVP_PKEY_get_bits(pkey.get())) +
                " bits; at least 2048 are required";
        return nullptr;
      }
      family = Family::rsa;
      break;
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t length = 0;
      if (EVP_PKEY_get_group_name(pkey.get(), group, sizeof group, &length) != 1) {
        error = "the EC key names no curve";
        return nullptr;
      }
      const std::string_view curve(group, length);
      if (curve == "prime256v1" || curve == "P-256") {
        family = Family::ec_p256;
      } else if (curve == "secp384r1" || curve == "P-384") {
        family = Family::ec_p384;
      } else {
        error = "the EC key's curve " + std::string(curve) +
                " is not supported (P-256 for ES256, P-384 for ES384)";
        return nullptr;
      }
      break;
    }
    case EVP_PKEY_ED25519:
      family = Family::ed25519;
      break;
    default:
      error = "the key type is not supported (RSA, EC P-256/P-384 or Ed25519)";
      return nullptr;
  }
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  return std::shared_ptr<const PublicKey>(new PublicKey(std::move(key), family));
}

std::shared_ptr<const PublicKey> PublicKey::from_pem_file(const std::string& path,
                                                          std::string& error) {
  const config::FileReadResult read = config::read_regular_file(path);
  if (!read.contents) {
    error = read.missing ? "the file " + path + " does not exist"
                         : "the file " + path + " cannot be read: " + read.error;
    return nullptr;
  }
  auto key = from_pem(*read.contents, error);
  if (!key) error = path + ": " + error;
  return key;
}

std::string_view PublicKey::algorithms() const {
  switch (family_) {
    case Family::rsa:
      return "RS256, RS384, RS512";
    case Family::ec_p256:
      return "ES256";
    case Family::ec_p384:
      return "ES384";
    case Family::ed25519:
      return "EdDSA";
  }
  return "";
}

bool PublicKey::accepts(std::string_view alg) const {
  switch (family_) {
    case Family::rsa:
      return alg == "RS256" || alg == "RS384" || alg == "RS512";
    case Family::ec_p256:
      return alg == "ES256";
    case Family::ec_p384:
      return alg == "ES384";
    case Family::ed25519:
      return alg == "EdDSA";
  }
  return false;
}

bool PublicKey::verify(std::string_view alg, std::string_view signing_input,
                       std::string_view signature) const {
  if (!accepts(alg)) return false;
  std::string der;
  if (family_ == Family::ec_p256 || family_ == Family::ec_p384) {
    der = ecdsa_der(signature, family_ == Family::ec_p256 ? 32 : 48);
    if (der.empty()) return false;
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, ContextDeleter> context(EVP_MD_CTX_new());
  if (!context || EVP_DigestVerifyInit(context.get(), nullptr, digest_of(alg), nullptr,
                                       key_->pkey.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

}  // namespace dispatch::auth
