// The built-in `rate_limit` modifier: `params: ["10/m", "user+event"]`. Each use in config owns
// its own sliding-window counter (so "10/s" and "100/h" can stack), shared by every loop.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/units.h"
#include "dispatch/extension.h"
#include "steps/builtin_steps.h"
#include "steps/engine_build_context.h"
#include "steps/modifiers/sliding_window.h"

namespace dispatch {

namespace {

enum class KeyPart { user, conn, ip, event, room };

class RateLimit final : public Step {
 public:
  RateLimit(config::RateSpec rate, std::vector<KeyPart> key)
      : counter_(rate.count, rate.window), key_(std::move(key)) {}

  StepStatus run(StepContext& ctx) override {
    std::string key;
    for (KeyPart part : key_) {
      switch (part) {
        case KeyPart::user:
          key += ctx.user_id();
          break;
        case KeyPart::conn:
          key += ctx.connection_id();
          break;
        case KeyPart::ip:
          key += ctx.client_ip();
          break;
        case KeyPart::event:
          key += ctx.event_name();
          break;
        case KeyPart::room: {
          auto target = ctx.target();
          if (!target) return ctx.fail(ErrorCode::bad_message, "this event needs a `target`");
          key += *target;
          break;
        }
      }
      key.push_back('\x1f');  // a separator no id contains
    }
    // The loop's clock (`dispatch test` moves it), not the system's.
    SlidingWindowCounter::Decision decision = counter_.hit(key, ctx.now());
    if (decision.allowed) return StepStatus::done;
    return ctx.fail_rate_limited(decision.retry_after_ms);
  }

 private:
  SlidingWindowCounter counter_;
  std::vector<KeyPart> key_;
};

}  // namespace

void register_rate_limit_modifier(StepRegistry& registry) {
  StepDefinition definition;
  definition.name = "rate_limit";
  definition.kind = StepKind::modifier;
  definition.params = {params::text("rate"), params::optional(params::text("key"))};
  definition.allowed_options = {"scope"};
  definition.factory = [](StepBuildContext& build) -> std::unique_ptr<Step> {
    auto& engine = dynamic_cast<EngineBuildContext&>(build);
    const Param& rate_param = *build.param(0);
    if (!rate_param.is_literal()) {
      engine.error_at_param(0, fmt::format("rate `{}`: the rate must be written out, like \"10/m\"",
                                           rate_param.source()));
      return nullptr;
    }
    auto rate = config::parse_rate(rate_param.literal_text());
    if (!rate) {
      engine.error_at_param(0, fmt::format("rate `{}`: {}", rate_param.source(), rate.error));
      return nullptr;
    }
    if (rate.value->count == 0) {
      engine.error_at_param(
          0, fmt::format("rate `{}`: a count of 0 lets no message through, ever (to turn the "
                         "event off, remove it; to restrict it, use require_permission)",
                         rate_param.source()));
      return nullptr;
    }
    std::vector<KeyPart> key;
    std::string_view key_text = "user+event";
    if (const Param* key_param = build.param(1)) {
      if (!key_param->is_literal()) {
        build.error("the key must be written out, like \"user+event\"");
        return nullptr;
      }
      key_text = key_param->literal_text();
    }
    while (!key_text.empty()) {
      size_t plus = key_text.find('+');
      std::string_view part = key_text.substr(0, plus);
      if (part == "user")
        key.push_back(KeyPart::user);
      else if (part == "conn")
        key.push_back(KeyPart::conn);
      else if (part == "event")
        key.push_back(KeyPart::event);
      else if (part == "room")
        key.push_back(KeyPart::room);
      else if (part == "ip")
        key.push_back(KeyPart::ip);
      else {
        build.error(
            fmt::format("unknown key part `{}` (use user, conn, ip, event, room, joined "
                        "with +)",
                        part));
        return nullptr;
      }
      if (plus == std::string_view::npos) break;
      key_text.remove_prefix(plus + 1);
    }
    if (auto scope = build.options().find("scope"); scope != build.options().end()) {
      if (scope->second != "node" && scope->second != "cluster") {
        build.error("`scope` must be `node` or `cluster`");
        return nullptr;
      }
    }
    return std::make_unique<RateLimit>(*rate.value, std::move(key));
  };
  registry.add(std::move(definition));
}

}  // namespace dispatch
