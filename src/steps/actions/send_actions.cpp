// The built-in actions that send: _reply, _notify_origin, _notify_room, _notify_user, _broadcast.
// Each fills its payload template once and hands the text to the context, which serialises one
// frame and fans it out.
#include <string>

#include "dispatch/extension.h"
#include "steps/builtin_steps.h"

namespace dispatch {

namespace {

enum class Audience { sender_connection, sender_user, target, user, everyone };

class SendAction final : public Step {
 public:
  SendAction(Audience audience, const Param* user, const Param& event, const Param& payload)
      : audience_(audience), user_(user), event_(event.literal_text()), payload_(payload) {}

  StepStatus run(StepContext& ctx) override {
    std::string payload;
    if (!ctx.fill(payload_, payload)) return StepStatus::failed;
    switch (audience_) {
      case Audience::sender_connection:
        ctx.reply(event_, payload);
        break;
      case Audience::sender_user:
        ctx.send_to_origin(event_, payload);
        break;
      case Audience::target: {
        auto target = ctx.target();
        if (!target || target->empty() || *target == "user:") {
          return ctx.fail(ErrorCode::bad_message, "this event needs a non-empty `target`");
        }
        ctx.send_to_target(*target, event_, payload);
        break;
      }
      case Audience::user: {
        std::string user;
        if (!ctx.fill(*user_, user)) return StepStatus::failed;
        if (user.empty()) return ctx.fail(ErrorCode::bad_message, "the user id is empty");
        ctx.send_to_user(user, event_, payload);
        break;
      }
      case Audience::everyone:
        ctx.broadcast(event_, payload);
        break;
    }
    return StepStatus::done;
  }

 private:
  Audience audience_;
  const Param* user_;
  std::string event_;
  const Param& payload_;
};

StepDefinition send_definition(std::string name, Audience audience) {
  StepDefinition definition;
  definition.name = std::move(name);
  definition.kind = StepKind::action;
  if (audience == Audience::user) definition.params.push_back(params::name("user id"));
  definition.params.push_back(params::event_name("event"));
  definition.params.push_back(params::json("payload"));
  definition.uses_target = audience == Audience::target;
  definition.factory = [audience](StepBuildContext& build) -> std::unique_ptr<Step> {
    const size_t first = audience == Audience::user ? 1 : 0;
    return std::make_unique<SendAction>(audience, first ? build.param(0) : nullptr,
                                        *build.param(first), *build.param(first + 1));
  };
  return definition;
}

}  // namespace

void register_send_actions(StepRegistry& registry) {
  registry.add(send_definition("_reply", Audience::sender_connection));
  registry.add(send_definition("_notify_origin", Audience::sender_user));
  registry.add(send_definition("_notify_room", Audience::target));
  registry.add(send_definition("_notify_user", Audience::user));
  registry.add(send_definition("_broadcast", Audience::everyone));
}

}  // namespace dispatch
