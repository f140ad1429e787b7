// The built-in `_log` action: one info line with the filled text.
#include <string>

#include "dispatch/extension.h"
#include "steps/builtin_steps.h"

namespace dispatch {

namespace {

class LogAction final : public Step {
 public:
  explicit LogAction(const Param& text) : text_(text) {}

  StepStatus run(StepContext& ctx) override {
    std::string line;
    if (!ctx.fill(text_, line)) return StepStatus::failed;
    ctx.log_info(line);
    return StepStatus::done;
  }

 private:
  const Param& text_;
};

}  // namespace

void register_log_action(StepRegistry& registry) {
  StepDefinition definition;
  definition.name = "_log";
  definition.params = {params::text("message")};
  definition.factory = [](StepBuildContext& build) -> std::unique_ptr<Step> {
    return std::make_unique<LogAction>(*build.param(0));
  };
  registry.add(std::move(definition));
}

}  // namespace dispatch
