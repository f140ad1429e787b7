// The built-in `secure` modifier: the message carries an event token in `payload.token`, signed
// with auth.event_jwt.secret (never the session secret), whose `sub` is the sender and whose
// `evt`, if present, is this event. Optional params `claim=value` add claim checks (the value may
// be a template, filled from the message: `msg={.payload.msg_id}`), and `once` lets each token
// id (`jti`) through only once while the token is alive. The token is then hidden from every
// later template.
#include <fmt/format.h>

#include <algorithm>
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
#include "steps/modifiers/spent_token_ids.h"

namespace dispatch {

namespace {

constexpr std::string_view kOnce = "once";

struct ClaimCheck {
  std::string claim;
  std::string expected_text;       // as a string, when the value is written out
  const Param* written = nullptr;  // else the whole `claim=<template>` param, filled per message
};

class Secure final : public Step {
 public:
  Secure(auth::JwtSettings settings, std::vector<ClaimCheck> checks, bool once)
      : settings_(std::move(settings)), checks_(std::move(checks)) {
    wanted_.insert("evt");
    for (const ClaimCheck& check : checks_) wanted_.insert(check.claim);
    if (once) {
      wanted_.insert("jti");
      spent_ = std::make_unique<SpentTokenIds>();
    }
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
    std::string filled;
    for (const ClaimCheck& check : checks_) {
      std::string_view expected = check.expected_text;
      if (check.written) {
        filled.clear();
        if (!ctx.fill(*check.written, filled)) return StepStatus::failed;
        expected = std::string_view(filled).substr(check.claim.size() + 1);  // after `claim=`
      }
      bool matched = false;
      for (const auto& [name, value] : result.token.claims) {
        if (name == check.claim) matched = value.text == expected;
      }
      if (!matched) {
        return ctx.fail(ErrorCode::invalid_token,
                        fmt::format("the event token's claim `{}` does not match", check.claim));
      }
    }
    if (spent_ && !spend_once(result.token, ctx)) return StepStatus::failed;
    ctx.hide_payload_token();
    return StepStatus::done;
  }

 private:
  // `once`: the token needs a `jti` and an `exp` (so its id can be forgotten when it expires).
  bool spend_once(const auth::VerifiedToken& token, StepContext& ctx) {
    const auth::ClaimValue* id = nullptr;
    for (const auto& [name, value] : token.claims) {
      if (name == "jti") id = &value;
    }
    if (!id || !id->is_string || id->text.empty() || !token.expires_at) {
      ctx.fail(ErrorCode::invalid_token,
               "this event takes a single-use event token: it needs a string `jti` and an `exp`");
      return false;
    }
    const int64_t forget_after = *token.expires_at + std::max<int64_t>(0, settings_.leeway.count());
    if (!spent_->spend(id->text, forget_after, ctx.unix_seconds())) {
      ctx.fail(ErrorCode::invalid_token, "the event token was already used (its `jti` is spent)");
      return false;
    }
    return true;
  }

  auth::JwtSettings settings_;
  std::vector<ClaimCheck> checks_;
  std::set<std::string, std::less<>> wanted_;
  std::unique_ptr<SpentTokenIds> spent_;  // only with `once`
};

}  // namespace

void register_secure_modifier(StepRegistry& registry) {
  StepDefinition definition;
  definition.name = "secure";
  definition.kind = StepKind::modifier;
  for (int i = 0; i < 8; ++i)
    definition.params.push_back(params::optional(params::text("claim=value or once")));
  definition.factory = [](StepBuildContext& build) -> std::unique_ptr<Step> {
    const auto& event_jwt = engine_config(build).auth.event_jwt;
    if (!event_jwt || event_jwt->secret.empty()) {
      build.error(
          "needs auth.event_jwt.secret (a session token must never pass as an event "
          "token): set DISPATCH_EVENT_JWT_SECRET or auth.event_jwt.secret");
      return nullptr;
    }
    auto& engine = dynamic_cast<EngineBuildContext&>(build);
    std::vector<ClaimCheck> checks;
    bool once = false;
    for (size_t i = 0; i < build.param_count(); ++i) {
      const Param* param = build.param(i);
      if (!param) continue;
      if (param->is_literal() && param->literal_text() == kOnce) {
        once = true;
        continue;
      }
      // The claim name is written out; the value after `=` may hold placeholders.
      const std::string_view source = param->source();
      const size_t equals = source.find('=');
      const std::string_view claim = source.substr(0, equals);
      if (equals == std::string_view::npos || equals == 0 ||
          claim.find_first_of("{}") != std::string_view::npos) {
        engine.error_at_param(
            i, fmt::format("`{}` is not a claim check: write `claim=value` (the value may be a "
                           "template, as in `msg={{.payload.msg_id}}`) or `once`",
                           source));
        return nullptr;
      }
      if (param->is_literal()) {
        const std::string_view text = param->literal_text();
        checks.push_back({std::string(claim), std::string(text.substr(equals + 1)), nullptr});
      } else {
        checks.push_back({std::string(claim), {}, param});
      }
    }
    return std::make_unique<Secure>(jwt_settings_of(*event_jwt), std::move(checks), once);
  };
  registry.add(std::move(definition));
}

}  // namespace dispatch
