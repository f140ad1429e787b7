// The built-in `_disconnect` action: closes every connection of a user, on every loop, with close
// code 4003 and the filled reason. Meant behind a guard such as `require_permission: kick_user`.
#include <memory>
#include <string>

#include "dispatch/extension.h"
#include "steps/builtin_steps.h"

namespace dispatch {

namespace {

class Disconnect final : public Step {
 public:
  Disconnect(const Param& user, const Param& reason) : user_(user), reason_(reason) {}

  StepStatus run(StepContext& ctx) override {
    std::string user;
    std::string reason;
    if (!ctx.fill(user_, user) || !ctx.fill(reason_, reason)) return StepStatus::failed;
    if (user.empty()) return ctx.fail(ErrorCode::bad_message, "the user id is empty");
    ctx.disconnect(user, reason);
    return StepStatus::done;
  }

 private:
  const Param& user_;
  const Param& reason_;
};

}  // namespace

void register_disconnect_action(StepRegistry& registry) {
  StepDefinition definition;
  definition.name = "_disconnect";
  definition.params = {params::name("user id"), params::text("reason")};
  definition.factory = [](StepBuildContext& build) -> std::unique_ptr<Step> {
    return std::make_unique<Disconnect>(*build.param(0), *build.param(1));
  };
  registry.add(std::move(definition));
}

}  // namespace dispatch
