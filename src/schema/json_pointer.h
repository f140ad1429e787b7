// RFC 6901 JSON Pointers, as `invalid_payload` errors name the failing value: "" is the whole
// payload, "/message" a member, "/items/3" an array item; in a member name `~` is written `~0`
// and `/` is written `~1`.
#pragma once

#include <string>
#include <string_view>

namespace dispatch::schema {

// Appends "/" and `token` escaped.
void append_pointer_token(std::string& pointer, std::string_view token);

}  // namespace dispatch::schema
