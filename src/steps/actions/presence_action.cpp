// The built-in `_presence` action: replies to the sender with who is in a room under a
// `presence: true` policy — {"event":"presence","payload":{"room":…,"users":[…],"connections":N}}.
// On a single node the Directory answers at once; in cluster mode Redis does (every live node's
// members; a dead node's expire with its lease), and while Redis cannot be asked, the node's own.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "config/room_policy.h"
#include "dispatch/extension.h"
#include "steps/builtin_steps.h"
#include "steps/engine_build_context.h"
#include "steps/node_step_context.h"
#include "template/json_escape.h"

namespace dispatch {

namespace {

std::string presence_payload(std::string_view room, const RoomPresence& presence) {
  std::string payload = "{\"room\":\"";
  tmpl::append_json_escaped(payload, room);
  payload += "\",\"users\":[";
  for (size_t i = 0; i < presence.users.size(); ++i) {
    if (i > 0) payload.push_back(',');
    payload.push_back('"');
    tmpl::append_json_escaped(payload, presence.users[i]);
    payload.push_back('"');
  }
  payload += fmt::format("],\"connections\":{}}}", presence.connections);
  return payload;
}

class PresenceAction final : public Step {
 public:
  PresenceAction(const std::vector<config::RoomPolicy>& policies, const Param& room)
      : policies_(policies), room_(room) {}

  StepStatus run(StepContext& ctx) override {
    std::string room;
    if (!ctx.fill(room_, room)) return StepStatus::failed;
    if (room.empty()) return ctx.fail(ErrorCode::bad_message, "the room id is empty");
    if (room.size() > max_room_id_length) {
      return ctx.fail(ErrorCode::bad_message,
                      fmt::format("the room id is {} bytes long; room ids are at most {} bytes",
                                  room.size(), max_room_id_length));
    }
    const config::RoomPolicy* policy = config::find_room_policy(policies_, room);
    if (!policy || !policy->presence) {
      return ctx.fail(ErrorCode::forbidden,
                      fmt::format("room {} has no presence: its room policy needs `presence: "
                                  "true`",
                                  room));
    }
    auto* node = dynamic_cast<NodeStepContext*>(&ctx);
    if (!node) {
      return ctx.fail(ErrorCode::internal, "`_presence` runs only for a client's message");
    }
    Broker* broker = node->broker();
    if (!broker) {
      ctx.reply("presence", presence_payload(room, node->node_room_presence(room)));
      return StepStatus::done;
    }
    auto completion = std::make_shared<Completion>(ctx.defer());
    broker->room_presence(room, [completion, room](std::optional<RoomPresence> presence) {
      completion->done([room, presence = std::move(presence)](StepContext& ctx) {
        auto& node = dynamic_cast<NodeStepContext&>(ctx);
        ctx.reply("presence",
                  presence_payload(room, presence ? *presence : node.node_room_presence(room)));
        return StepStatus::done;
      });
    });
    return StepStatus::pending;
  }

 private:
  const std::vector<config::RoomPolicy>& policies_;
  const Param& room_;
};

}  // namespace

void register_presence_action(StepRegistry& registry) {
  StepDefinition definition;
  definition.name = "_presence";
  definition.params = {params::name("room id")};
  definition.factory = [](StepBuildContext& build) -> std::unique_ptr<Step> {
    auto& engine = dynamic_cast<EngineBuildContext&>(build);
    const auto& policies = engine.config().rooms;
    const Param& room = *build.param(0);
    if (room.is_literal()) {
      const config::RoomPolicy* policy = config::find_room_policy(policies, room.literal_text());
      if (!policy || !policy->presence) {
        engine.error_at_param(
            0, fmt::format("room {} has no presence: give its room policy `presence: true`",
                           room.literal_text()));
        return nullptr;
      }
    } else if (std::none_of(policies.begin(), policies.end(),
                            [](const config::RoomPolicy& policy) { return policy.presence; })) {
      engine.error_at_param(0,
                            "no room policy has `presence: true`, and this action answers only "
                            "for rooms under one");
      return nullptr;
    }
    return std::make_unique<PresenceAction>(policies, room);
  };
  registry.add(std::move(definition));
}

}  // namespace dispatch
