// The built-in `require_permission` modifier: the session token's `perms` claim holds the named
// permission. The name is a literal from the config's `permissions:` list (checked at load, so a
// typo cannot make an event silently unreachable).
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>

#include "config/config.h"
#include "dispatch/extension.h"
#include "steps/builtin_steps.h"
#include "steps/engine_build_context.h"

namespace dispatch {

namespace {

class RequirePermission final : public Step {
 public:
  explicit RequirePermission(std::string permission) : permission_(std::move(permission)) {}

  StepStatus run(StepContext& ctx) override {
    const auto& held = ctx.token_permissions();
    if (std::find(held.begin(), held.end(), permission_) != held.end()) return StepStatus::done;
    return ctx.fail(ErrorCode::forbidden,
                    fmt::format("this event needs the permission `{}`", permission_));
  }

 private:
  std::string permission_;
};

}  // namespace

void register_require_permission_modifier(StepRegistry& registry) {
  StepDefinition definition;
  definition.name = "require_permission";
  definition.kind = StepKind::modifier;
  definition.params = {params::name("name")};
  definition.factory = [](StepBuildContext& build) -> std::unique_ptr<Step> {
    auto& engine = dynamic_cast<EngineBuildContext&>(build);
    const Param& name = *build.param(0);
    if (!name.is_literal()) {
      engine.error_at_param(0, "the permission name must be written out, not a template");
      return nullptr;
    }
    const std::string permission(name.literal_text());
    const auto& declared = engine.config().permissions;
    if (std::find(declared.begin(), declared.end(), permission) == declared.end()) {
      engine.error_at_param(
          0,
          fmt::format("`{}` is not in the config's `permissions:` list; add it there", permission));
      return nullptr;
    }
    return std::make_unique<RequirePermission>(permission);
  };
  registry.add(std::move(definition));
}

}  // namespace dispatch
