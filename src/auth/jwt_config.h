// The JWT checks a config section asks for (auth.jwt, auth.event_jwt), as the verifier takes them.
#pragma once

#include "auth/jwt.h"
#include "config/config.h"

namespace dispatch {

auth::JwtSettings jwt_settings_of(const config::JwtConfig& jwt);

}  // namespace dispatch
