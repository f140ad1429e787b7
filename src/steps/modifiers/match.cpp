// The built-in `match` modifier: a filled template matches a regular expression as a whole. RE2
// (linear time, no backtracking) compiled once at load; an invalid regex refuses the config at
// the regex's position. A mismatch is `forbidden`.
#include <fmt/format.h>
#include <re2/re2.h>

#include <memory>
#include <string>

#include "dispatch/extension.h"
#include "steps/builtin_steps.h"
#include "steps/engine_build_context.h"

namespace dispatch {

namespace {

class Match final : public Step {
 public:
  Match(const Param& value, std::unique_ptr<RE2> pattern)
      : value_(value), pattern_(std::move(pattern)) {}

  StepStatus run(StepContext& ctx) override {
    std::string filled;
    if (!ctx.fill(value_, filled)) return StepStatus::failed;
    if (RE2::FullMatch(filled, *pattern_)) return StepStatus::done;
    return ctx.fail(ErrorCode::forbidden, fmt::format("`{}` does not match the pattern `{}`",
                                                      value_.source(), pattern_->pattern()));
  }

 private:
  const Param& value_;
  std::unique_ptr<RE2> pattern_;  // RE2 is thread-safe for matching
};

}  // namespace

void register_match_modifier(StepRegistry& registry) {
  StepDefinition definition;
  definition.name = "match";
  definition.kind = StepKind::modifier;
  definition.params = {params::text("template"), params::text("regex")};
  definition.factory = [](StepBuildContext& build) -> std::unique_ptr<Step> {
    auto& engine = dynamic_cast<EngineBuildContext&>(build);
    const Param& regex = *build.param(1);
    if (!regex.is_literal()) {
      engine.error_at_param(1, "the regex must be written out, not a template");
      return nullptr;
    }
    RE2::Options options;
    options.set_log_errors(false);
    auto pattern = std::make_unique<RE2>(std::string(regex.literal_text()), options);
    if (!pattern->ok()) {
      engine.error_at_param(1, fmt::format("invalid regex: {}", pattern->error()));
      return nullptr;
    }
    return std::make_unique<Match>(*build.param(0), std::move(pattern));
  };
  registry.add(std::move(definition));
}

}  // namespace dispatch
