// The built-in `secure` modifier: the message carries an event token in `payload.token`, signed
// with auth.event_jwt.secret (never the session secret), whose `sub` is the sender and whose
// `evt`, if present, is this event. Optional params `claim=value` add claim checks. The token is
// then hidden from every later template.
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "auth/jwt.h"
#include "auth/jwt_config.h"
#include "config/config.h"
#include "dispatch/extension.h"
#include "steps/builtin_steps.h"
#include "steps/engine_build_context.h"

namespace dispatch {

namespace {

struct ClaimCheck {
  std::string claim;
  std::string expected_text;  // as a string
};

class Secure final : public Step {
 public:
  Secure(auth::JwtSettings settings, std::vector<ClaimCheck> checks)
      : settings_(std::move(settings)), checks_(std::move(checks)) {
    wanted_.insert("evt");
    for (const ClaimCheck& check : checks_) wanted_.insert(check.claim);
  }

  StepStatus run(StepContext& ctx) override {
    auto token = ctx.payload_token();
    if (!token)
      return ctx.fail(ErrorCode::invalid_token, "payload.token (an event token) is missing");
    auth::JwtResult result = auth::verify_jwt(*token, settings_, ctx.unix_seconds(), wanted_);
    if (result.error != auth::JwtError::none) {
      return ctx.fail(ErrorCode::invalid_token,
                      fmt::format("the event token was refused: {}", auth::describe(result.error)));
    }
    if (result.token.subject != ctx.user_id()) {
      return ctx.fail(ErrorCode::invalid_token, "the event token was issued to another user");
    }
    for (const auto& [name, value] : result.token.claims) {
      if (name == "evt" && !(value.is_string && value.text == ctx.event_name())) {
        return ctx.fail(ErrorCode::invalid_token, "the event token is for another event");
      }
    }
    for (const ClaimCheck& check : checks_) {
      bool matched = false;
      for (const auto& [name, value] : result.token.claims) {
        if (name == check.claim) matched = value.text == check.expected_text;
      }
      if (!matched) {
        return ctx.fail(ErrorCode::invalid_token,
                        fmt::format("the event token's claim `{}` does not match", check.claim));
      }
    }
    ctx.hide_payload_token();
    return StepStatus::done;
  }

 private:
  auth::JwtSettings settings_;
  std::vector<ClaimCheck> checks_;
  std::set<std::string, std::less<>> wanted_;
};

}  // namespace

void register_secure_modifier(StepRegistry& registry) {
  StepDefinition definition;
  definition.name = "secure";
  definition.kind = StepKind::modifier;
  for (int i = 0; i < 8; ++i)
    definition.params.push_back(params::optional(params::text("claim=value")));
  definition.factory = [](StepBuildContext& build) -> std::unique_ptr<Step> {
    const auto& event_jwt = engine_config(build).auth.event_jwt;
    if (!event_jwt || event_jwt->secret.empty()) {
      build.error(
          "needs auth.event_jwt.secret (a session token must never pass as an event "
          "token): set DISPATCH_EVENT_JWT_SECRET or auth.event_jwt.secret");
      return nullptr;
    }
    std::vector<ClaimCheck> checks;
    for (size_t i = 0; i < build.param_count(); ++i) {
      const Param* param = build.param(i);
      if (!param) continue;
      std::string_view text = param->literal_text();
      size_t equals = text.find('=');
      if (!param->is_literal() || equals == std::string_view::npos || equals == 0) {
        build.error("claim checks are written `claim=value`");
        return nullptr;
      }
      checks.push_back({std::string(text.substr(0, equals)), std::string(text.substr(equals + 1))});
    }
    return std::make_unique<Secure>(jwt_settings_of(*event_jwt), std::move(checks));
  };
  registry.add(std::move(definition));
}

}  // namespace dispatch
