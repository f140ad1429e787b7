// The running form of a config: every event's steps built once through the StepRegistry, with
// every param compiled into a template. Immutable; the loops share it through a shared_ptr and
// a reload swaps in a new one (a message that is mid-way keeps its own reference).
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/jwt.h"
#include "auth/jwt_config.h"
#include "config/config.h"
#include "delivery/directory.h"
#include "delivery/room_history.h"
#include "dispatch/extension.h"
#include "pipeline/hook.h"
#include "pipeline/incoming_message.h"
#include "schema/schema.h"
#include "schema/schema_validator.h"
#include "template/template.h"
#include "webhook/webhook_client.h"

namespace dispatch {

// An event's steps, or a lifecycle hook's actions (then `event` is the hook's name).
struct Pipeline {
  std::string event;
  std::vector<std::unique_ptr<Step>> steps;  // modifiers first, then actions, in config order
  std::vector<std::string> step_names;
  bool needs_target = false;  // some step reads the message's target
  // Its position in config().events: indexes per-loop tables such as the per-event message
  // counts (EventLoop::count_event_message).
  size_t index = 0;
  // The payload schema (`events.<name>.schema`), checked before any step; null = none.
  std::unique_ptr<const schema::Schema> schema;

  // The message's payload against the schema: the first violation, or nothing (always nothing
  // for an event without a schema, at the cost of one pointer test).
  std::optional<schema::SchemaViolation> check_payload(const IncomingMessage& message) const {
    if (!schema) return std::nullopt;
    return message.payload ? schema::validate(*schema, *message.payload)
                           : schema::validate_missing_payload(*schema);
  }
};

class CompiledConfig {
 public:
  // Builds every pipeline; on failure returns nullptr and appends to `errors`.
  static std::shared_ptr<const CompiledConfig> compile(config::Config config,
                                                       const StepRegistry& registry,
                                                       std::vector<config::ConfigError>& errors);

  const config::Config& config() const { return config_; }
  size_t event_count() const { return config_.events.size(); }
  const Pipeline* find_event(std::string_view name) const {
    auto found = events_.find(name);
    return found == events_.end() ? nullptr : &found->second;
  }
  // A lifecycle hook's actions (`hooks.<name>`), or nullptr when the config declares none: the
  // caller then does nothing at all.
  const Pipeline* hook(Hook which) const {
    const Pipeline& hook = hooks_[static_cast<size_t>(which)];
    return hook.steps.empty() ? nullptr : &hook;
  }
  // Some hook runs when a session joins or leaves a room (on_join, on_leave).
  bool has_membership_hooks() const { return hook(Hook::on_join) || hook(Hook::on_leave); }
  // The token claims some template reads: connections keep only these.
  const std::set<std::string, std::less<>>& wanted_claims() const { return wanted_claims_; }
  const auth::JwtSettings& session_jwt() const { return session_jwt_; }
  bool is_known_permission(std::string_view name) const;
  // The room's history limits when its policy keeps history (`history.size` > 0); free when no
  // policy does.
  std::optional<HistoryLimits> history_limits(std::string_view room) const;
  // The client of webhook target `name` (`webhooks.<name>`), or nullptr.
  std::shared_ptr<webhook::WebhookClient> webhook_client(std::string_view name) const {
    auto found = webhooks_.find(name);
    return found == webhooks_.end() ? nullptr : found->second;
  }

 private:
  // Builds `specs` into `pipeline` (each step through the registry, its params compiled); for a
  // hook, also refuses what a hook cannot do (hook_action_problem, hook_template_problem).
  void build_steps(const StepRegistry& registry, const std::vector<config::StepSpec>& specs,
                   StepKind kind, Pipeline& pipeline, std::optional<Hook> hook,
                   std::vector<config::ConfigError>& errors);

  config::Config config_;
  std::unordered_map<std::string, Pipeline, StringHash, std::equal_to<>> events_;
  std::array<Pipeline, kHookCount> hooks_;  // by Hook; a hook without steps is not declared
  std::set<std::string, std::less<>> wanted_claims_;
  std::vector<std::unique_ptr<std::vector<std::optional<tmpl::Template>>>> param_storage_;
  auth::JwtSettings session_jwt_;
  bool has_history_rooms_ = false;
  // One client per declared target, shared by every `_webhook` step naming it. A reload builds
  // new ones; the old ones finish what they hold (their workers keep them alive).
  std::map<std::string, std::shared_ptr<webhook::WebhookClient>, std::less<>> webhooks_;
};

}  // namespace dispatch
