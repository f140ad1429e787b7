// Base64url (RFC 4648 section 5) without padding, as used by JWT segments.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dispatch::auth {

// Encodes bytes with the URL-safe alphabet and no '=' padding.
std::string base64url_encode(std::string_view bytes);

// Decodes unpadded base64url. Returns nullopt on any character outside the alphabet (including
// '='), on an impossible length (4n+1), and on non-zero unused trailing bits, so that every byte
// string has exactly one accepted encoding.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace dispatch::auth
