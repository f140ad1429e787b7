#include "auth/hmac.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <memory>
#include <string>
#include <vector>

namespace dispatch::auth {
namespace {

const char* digest_name(HmacDigest digest) {
  switch (digest) {
    case HmacDigest::sha256:
      return "SHA256";
    case HmacDigest::sha384:
      return "SHA384";
    case HmacDigest::sha512:
      return "SHA512";
  }
  return "SHA256";
}

struct MacDeleter {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

struct KeyedContext {
  HmacDigest digest;
  std::string secret;
  std::unique_ptr<EVP_MAC_CTX, MacDeleter> context;
};

// A handful per thread: a server has one secret (two while rotating); `dispatch token` one.
constexpr size_t max_keyed_contexts = 4;

struct ThreadMacs {
  std::unique_ptr<EVP_MAC, MacDeleter> hmac{EVP_MAC_fetch(nullptr, "HMAC", nullptr)};
  std::vector<KeyedContext> keyed;

  EVP_MAC_CTX* context_for(HmacDigest digest, std::string_view secret) {
    for (KeyedContext& entry : keyed) {
      if (entry.digest == digest && entry.secret == secret) return entry.context.get();
    }
    if (!hmac) return nullptr;
    std::unique_ptr<EVP_MAC_CTX, MacDeleter> context(EVP_MAC_CTX_new(hmac.get()));
    if (!context) return nullptr;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(
                               OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name(digest)), 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_init(context.get(), reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), params) != 1) {
      return nullptr;
    }
    if (keyed.size() == max_keyed_contexts) keyed.erase(keyed.begin());
    keyed.push_back({digest, std::string(secret), std::move(context)});
    return keyed.back().context.get();
  }
};

}  // namespace

bool compute_hmac(HmacDigest digest, std::string_view secret, std::string_view data, Mac& mac) {
  if (secret.empty()) return false;
  thread_local ThreadMacs macs;
  EVP_MAC_CTX* context = macs.context_for(digest, secret);
  if (context == nullptr) return false;
  // A null key re-initialises the context with the key it already has.
  if (EVP_MAC_init(context, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
          1 ||
      EVP_MAC_final(context, mac.bytes, &mac.size, sizeof mac.bytes) != 1) {
    return false;
  }
  return true;
}

}  // namespace dispatch::auth
