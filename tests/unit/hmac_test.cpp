// Tests of the per-thread keyed HMAC (src/auth/hmac.h) against RFC 4231's test vectors, also
// when secrets alternate and when more secrets are in use than contexts are kept.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "auth/hmac.h"

namespace dispatch::auth {
namespace {

std::string hex(const Mac& mac) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < mac.size; ++i) {
    out.push_back(digits[mac.bytes[i] >> 4]);
    out.push_back(digits[mac.bytes[i] & 0xf]);
  }
  return out;
}

std::string hmac_hex(HmacDigest digest, std::string_view secret, std::string_view data) {
  Mac mac;
  EXPECT_TRUE(compute_hmac(digest, secret, data, mac));
  return hex(mac);
}

// RFC 4231, test case 2.
constexpr std::string_view kKey = "Jefe";
constexpr std::string_view kData = "what do ya want for nothing?";
const std::string kSha256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
const std::string kSha384 =
    "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab216"
    "49";
const std::string kSha512 =
    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6"
    "fd"
    "caeab1a34d4a6b4b636e070a38bce737";

TEST(Hmac, MatchesRfc4231ForEachDigest) {
  EXPECT_EQ(hmac_hex(HmacDigest::sha256, kKey, kData), kSha256);
  EXPECT_EQ(hmac_hex(HmacDigest::sha384, kKey, kData), kSha384);
  EXPECT_EQ(hmac_hex(HmacDigest::sha512, kKey, kData), kSha512);
}

TEST(Hmac, RepeatedUseOfOneKeyedContextGivesTheSameResult) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(hmac_hex(HmacDigest::sha256, kKey, kData), kSha256);
}

TEST(Hmac, AlternatingAndEvictedSecretsStayCorrect) {
  const std::string first = hmac_hex(HmacDigest::sha256, "secret-0", kData);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 7; ++i) {  // more secrets than contexts kept per thread
      const std::string secret = "secret-" + std::to_string(i);
      const std::string again = hmac_hex(HmacDigest::sha256, secret, kData);
      EXPECT_EQ(again.size(), 64u);
      if (i == 0) {
        EXPECT_EQ(again, first);
      }
    }
    EXPECT_EQ(hmac_hex(HmacDigest::sha256, kKey, kData), kSha256);
  }
  EXPECT_NE(hmac_hex(HmacDigest::sha256, "secret-1", kData),
            hmac_hex(HmacDigest::sha256, "secret-2", kData));
}

TEST(Hmac, SameKeyDifferentDigestsAreKeptApart) {
  EXPECT_EQ(hmac_hex(HmacDigest::sha512, kKey, kData), kSha512);
  EXPECT_EQ(hmac_hex(HmacDigest::sha256, kKey, kData), kSha256);
  EXPECT_EQ(hmac_hex(HmacDigest::sha512, kKey, kData), kSha512);
}

TEST(Hmac, EachThreadKeepsItsOwnContexts) {
  std::string from_thread;
  std::thread other([&] { from_thread = hmac_hex(HmacDigest::sha256, kKey, kData); });
  const std::string here = hmac_hex(HmacDigest::sha256, kKey, kData);
  other.join();
  EXPECT_EQ(here, kSha256);
  EXPECT_EQ(from_thread, kSha256);
}

TEST(Hmac, AnEmptySecretIsRefused) {
  Mac mac;
  EXPECT_FALSE(compute_hmac(HmacDigest::sha256, "", kData, mac));
}

}  // namespace
}  // namespace dispatch::auth
