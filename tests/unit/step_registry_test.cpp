// Tests of the extension API's registry (include/dispatch/extension.h): a name is registered
// once, so a custom step can never silently replace a built-in.
#include <gtest/gtest.h>

#include <stdexcept>

#include "dispatch/extension.h"

namespace dispatch {
namespace {

class Nothing final : public Step {
 public:
  StepStatus run(StepContext&) override { return StepStatus::done; }
};

StepDefinition definition(std::string name, StepKind kind) {
  StepDefinition result;
  result.name = std::move(name);
  result.kind = kind;
  result.params = {params::event_name("event"), params::optional(params::json("payload"))};
  result.factory = [](StepBuildContext&) -> std::unique_ptr<Step> {
    return std::make_unique<Nothing>();
  };
  return result;
}

TEST(StepRegistry, ACustomStepNamedLikeABuiltInIsRefused) {
  StepRegistry registry;
  register_builtin_steps(registry);
  try {
    registry.add(definition("_notify_room", StepKind::action));
    FAIL() << "a second `_notify_room` was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("`_notify_room` is already registered"),
              std::string::npos)
        << error.what();
  }
  // The built-in is still the one registered.
  const StepDefinition* found = registry.find(StepKind::action, "_notify_room");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->params.size(), 2u);
  EXPECT_EQ(found->params[1].kind, ParamKind::json);
}

TEST(StepRegistry, TheSameNameMayBeAnActionAndAModifier) {
  StepRegistry registry;
  registry.add(definition("audit", StepKind::action));
  EXPECT_NO_THROW(registry.add(definition("audit", StepKind::modifier)));
  EXPECT_THROW(registry.add(definition("audit", StepKind::modifier)), std::invalid_argument);
  EXPECT_NE(registry.find(StepKind::action, "audit"), nullptr);
  EXPECT_NE(registry.find(StepKind::modifier, "audit"), nullptr);
}

TEST(StepRegistry, ParamDescriptorsSayWhatEachParamIs) {
  const ParamSpec event = params::event_name("event");
  EXPECT_EQ(event.kind, ParamKind::name);
  EXPECT_TRUE(event.event_name);
  EXPECT_FALSE(event.optional);
  const ParamSpec scope = params::optional(params::name("scope"));
  EXPECT_TRUE(scope.optional);
  EXPECT_FALSE(scope.event_name);
  EXPECT_EQ(params::text("line").kind, ParamKind::text);
  EXPECT_EQ(params::json("payload").name, "payload");
}

}  // namespace
}  // namespace dispatch
