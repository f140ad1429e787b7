// The built-in `member_of` modifier: the sending connection is a member of a room (by default the
// message's target). A `user:` target is not a room: `forbidden`.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "dispatch/extension.h"
#include "steps/builtin_steps.h"

namespace dispatch {

namespace {

class MemberOf final : public Step {
 public:
  explicit MemberOf(const Param* room) : room_(room) {}

  StepStatus run(StepContext& ctx) override {
    std::string filled;
    std::string_view room;
    if (room_) {
      if (!ctx.fill(*room_, filled)) return StepStatus::failed;
      room = filled;
    } else {
      const auto target = ctx.target();
      if (!target || target->empty()) {
        return ctx.fail(ErrorCode::bad_message,
                        fmt::format("`target` is required by the event `{}`", ctx.event_name()));
      }
      room = *target;
    }
    if (room.starts_with("user:")) {
      return ctx.fail(ErrorCode::forbidden,
                      fmt::format("`{}` is a user, not a room: this event needs a room you are a "
                                  "member of",
                                  room));
    }
    if (!ctx.is_member(room)) {
      return ctx.fail(ErrorCode::forbidden, fmt::format("not a member of room {}", room));
    }
    return StepStatus::done;
  }

 private:
  const Param* room_;  // nullptr: the message's target
};

}  // namespace

void register_member_of_modifier(StepRegistry& registry) {
  StepDefinition definition;
  definition.name = "member_of";
  definition.kind = StepKind::modifier;
  definition.params = {params::optional(params::name("room id"))};
  // Not `uses_target`: with a room param the target is not needed; without one, run() asks.
  definition.factory = [](StepBuildContext& build) -> std::unique_ptr<Step> {
    return std::make_unique<MemberOf>(build.param(0));
  };
  registry.add(std::move(definition));
}

}  // namespace dispatch
