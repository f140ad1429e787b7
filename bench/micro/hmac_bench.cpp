// A token's signature check: OpenSSL 3's one-shot HMAC() (the baseline: it fetches the
// algorithm and keys a new context every call) against auth::compute_hmac (a keyed context per
// thread and secret), and the whole HS256 verification of a typical session token.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "auth/hmac.h"
#include "auth/jwt.h"

namespace {

const std::string kSecret = "suite-bench-secret-0123456789abcdef0123456789";
const std::string kSigned =
    R"(eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1NDIiLCJleHAiOjQxMDI0NDQ4MDB9)";

void OpenSslOneShotHmac(benchmark::State& state) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  for (auto _ : state) {
    HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
         reinterpret_cast<const unsigned char*>(kSigned.data()), kSigned.size(), out, &size);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(OpenSslOneShotHmac);

void KeyedContextHmac(benchmark::State& state) {
  dispatch::auth::Mac mac;
  for (auto _ : state) {
    dispatch::auth::compute_hmac(dispatch::auth::HmacDigest::sha256, kSecret, kSigned, mac);
    benchmark::DoNotOptimize(mac);
  }
}
BENCHMARK(KeyedContextHmac);

void VerifyHs256Token(benchmark::State& state) {
  const std::string token =
      dispatch::auth::sign_jwt_hs256(R"({"sub":"u42","exp":4102444800})", kSecret);
  dispatch::auth::JwtSettings settings;
  settings.secret = kSecret;
  for (auto _ : state) {
    auto result = dispatch::auth::verify_jwt(token, settings, 1'800'000'000, {});
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(VerifyHs256Token);

}  // namespace
