// The built-in `rate_limit` modifier: `params: ["10/m", "user+event"]`. Each use in config owns
// its own sliding-window counter (so "10/s" and "100/h" can stack), shared by every loop. In
// cluster mode the count is cluster-wide (`scope: cluster`, the default): the same window, kept
// in Redis by a script (one round trip; the step waits for it), named by the event, the rate and
// the key; `scope: node` keeps it on the node. While Redis cannot be asked, the node counts alone.
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
#include "steps/node_step_context.h"

namespace dispatch {

namespace {

enum class KeyPart { user, conn, ip, event, room };

class RateLimit final : public Step {
 public:
  // `cluster_name`: set for a cluster-wide count ("" on a single node or with `scope: node`).
  RateLimit(config::RateSpec rate, std::vector<KeyPart> key, std::string cluster_name)
      : rate_(rate),
        counter_(rate.count, rate.window),
        key_(std::move(key)),
        cluster_name_(std::move(cluster_name)) {}

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
    if (!cluster_name_.empty()) {
      auto* node = dynamic_cast<NodeStepContext*>(&ctx);
      if (Broker* broker = node ? node->broker() : nullptr)
        return hit_in_cluster(*broker, ctx, key);
    }
    return hit_here(ctx, key);
  }

 private:
  StepStatus hit_here(StepContext& ctx, std::string_view key) {
    // The loop's clock (`dispatch test` moves it), not the system's.
    SlidingWindowCounter::Decision decision = counter_.hit(key, ctx.now());
    if (decision.allowed) return StepStatus::done;
    return ctx.fail_rate_limited(decision.retry_after_ms);
  }

  StepStatus hit_in_cluster(Broker& broker, StepContext& ctx, std::string key) {
    auto completion = std::make_shared<Completion>(ctx.defer());
    std::string name = cluster_name_ + key;
    broker.rate_hit(std::move(name), rate_.count, rate_.window,
                    [this, completion, key = std::move(key)](std::optional<int64_t> wait) {
                      completion->done([this, key, wait](StepContext& ctx) {
                        if (!wait) return hit_here(ctx, key);  // Redis unreachable
                        if (*wait == 0) return StepStatus::done;
                        return ctx.fail_rate_limited(*wait);
                      });
                    });
    return StepStatus::pending;
  }

  config::RateSpec rate_;
  SlidingWindowCounter counter_;
  std::vector<KeyPart> key_;
  std::string cluster_name_;
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
    const std::string key_text_written(key_text);
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
    bool cluster_wide = engine.config().cluster.enabled();
    if (auto scope = build.options().find("scope"); scope != build.options().end()) {
      if (scope->second != "node" && scope->second != "cluster") {
        build.error("`scope` must be `node` or `cluster`");
        return nullptr;
      }
      cluster_wide = cluster_wide && scope->second == "cluster";
    }
    std::string cluster_name;
    if (cluster_wide) {
      cluster_name = fmt::format("{}\x1f{}\x1f{}\x1f", build.event_name(),
                                 rate_param.literal_text(), key_text_written);
    }
    return std::make_unique<RateLimit>(*rate.value, std::move(key), std::move(cluster_name));
  };
  registry.add(std::move(definition));
}

}  // namespace dispatch
