// The X-Dispatch-Signature header of a webhook POST: "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" keyed with the target's secret>". The timestamp is inside the signed text, so a
// backend that also checks that t is recent refuses a replayed request.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dispatch::webhook {

// "" when the secret is empty (the target is unsigned).
std::string webhook_signature(std::string_view secret, int64_t unix_seconds, std::string_view body);

}  // namespace dispatch::webhook
