#include "auth/jwt_config.h"

namespace dispatch {

auth::JwtSettings jwt_settings_of(const config::JwtConfig& jwt) {
  auth::JwtSettings settings;
  settings.secret = jwt.secret;
  settings.issuer = jwt.issuer;
  settings.audience = jwt.audience;
  settings.leeway = std::chrono::duration_cast<std::chrono::seconds>(jwt.leeway);
  settings.require_exp = jwt.require_exp;
  return settings;
}

}  // namespace dispatch
