// The built-in actions that change room membership: _join and _leave.
#include <fmt/format.h>

#include <string>

#include "dispatch/extension.h"
#include "steps/builtin_steps.h"

namespace dispatch {

namespace {

class MembershipAction final : public Step {
 public:
  MembershipAction(bool joining, bool this_connection_only, const Param& user, const Param& room)
      : joining_(joining), this_connection_only_(this_connection_only), user_(user), room_(room) {}

  StepStatus run(StepContext& ctx) override {
    std::string user;
    std::string room;
    if (!ctx.fill(user_, user) || !ctx.fill(room_, room)) return StepStatus::failed;
    if (room.empty()) return ctx.fail(ErrorCode::bad_message, "the room id is empty");
    if (user.empty()) return ctx.fail(ErrorCode::bad_message, "the user id is empty");
    if (room.size() > max_room_id_length) {
      return ctx.fail(ErrorCode::bad_message,
                      fmt::format("the room id is {} bytes long; room ids are at most {} bytes",
                                  room.size(), max_room_id_length));
    }
    if (room.starts_with("user:")) {
      return ctx.fail(ErrorCode::bad_message, "`user:` ids address users, not rooms");
    }
    if (joining_) {
      if (!ctx.join(user, room, this_connection_only_)) return StepStatus::failed;
    } else {
      ctx.leave(user, room);
    }
    return StepStatus::done;
  }

 private:
  bool joining_;
  bool this_connection_only_;
  const Param& user_;
  const Param& room_;
};

}  // namespace

void register_membership_actions(StepRegistry& registry) {
  StepDefinition join;
  join.name = "_join";
  join.params = {params::name("user id"), params::name("room id"),
                 params::optional(params::name("scope"))};
  join.factory = [](StepBuildContext& build) -> std::unique_ptr<Step> {
    bool this_connection_only = false;
    if (const Param* scope = build.param(2)) {
      if (!scope->is_literal() ||
          (scope->literal_text() != "connection" && scope->literal_text() != "user")) {
        build.error(
            "the third param must be `connection` (only the sending connection joins) "
            "or `user` (every connection of the user, the default)");
        return nullptr;
      }
      this_connection_only = scope->literal_text() == "connection";
    }
    return std::make_unique<MembershipAction>(true, this_connection_only, *build.param(0),
                                              *build.param(1));
  };
  registry.add(std::move(join));

  StepDefinition leave;
  leave.name = "_leave";
  leave.params = {params::name("user id"), params::name("room id")};
  leave.factory = [](StepBuildContext& build) -> std::unique_ptr<Step> {
    return std::make_unique<MembershipAction>(false, false, *build.param(0), *build.param(1));
  };
  registry.add(std::move(leave));
}

}  // namespace dispatch
