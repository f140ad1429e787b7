#include "webhook/webhook_signature.h"

#include "auth/hmac.h"

namespace dispatch::webhook {

std::string webhook_signature(std::string_view secret, int64_t unix_seconds,
                              std::string_view body) {
  if (secret.empty()) return {};
  const std::string timestamp = std::to_string(unix_seconds);
  std::string signed_text;
  signed_text.reserve(timestamp.size() + 1 + body.size());
  signed_text.append(timestamp).append(".").append(body);
  auth::Mac mac;
  if (!auth::compute_hmac(auth::HmacDigest::sha256, secret, signed_text, mac)) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string header = "t=" + timestamp + ",v1=";
  for (size_t i = 0; i < mac.size; ++i) {
    header += kHex[mac.bytes[i] >> 4];
    header += kHex[mac.bytes[i] & 0x0f];
  }
  return header;
}

}  // namespace dispatch::webhook
