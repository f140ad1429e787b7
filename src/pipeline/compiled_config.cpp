#include "pipeline/compiled_config.h"

#include "config/room_policy.h"

#include <fmt/format.h>

#include <algorithm>

#include "auth/public_key.h"
#include "config/suggestion.h"
#include "schema/schema_compiler.h"
#include "steps/engine_build_context.h"

namespace dispatch {

namespace {

class BuildContext final : public EngineBuildContext {
 public:
  BuildContext(const CompiledConfig& compiled, std::string_view event_name,
               const config::StepSpec& step, std::vector<std::optional<tmpl::Template>>& params,
               std::vector<config::ConfigError>& errors)
      : compiled_(compiled),
        config_(compiled.config()),
        event_name_(event_name),
        step_(step),
        params_(params),
        errors_(errors) {}

  const config::Config& config() const override { return config_; }
  std::string_view event_name() const override { return event_name_; }
  const Param* param(size_t index) const override {
    if (index >= params_.size() || !params_[index]) return nullptr;
    return &*params_[index];
  }
  size_t param_count() const override { return params_.size(); }
  const std::map<std::string, std::string>& options() const override { return step_.options; }
  void error(std::string message) override {
    errors_.push_back({step_.mark, fmt::format("`{}`: {}", step_.name, message)});
    failed = true;
  }
  void error_at_param(size_t index, std::string message) override {
    const config::SourceMark& mark =
        index < step_.param_marks.size() ? step_.param_marks[index] : step_.mark;
    errors_.push_back({mark, fmt::format("`{}`: {}", step_.name, message)});
    failed = true;
  }
  std::shared_ptr<webhook::WebhookClient> webhook_client(std::string_view name) const override {
    return compiled_.webhook_client(name);
  }

  bool failed = false;

 private:
  const CompiledConfig& compiled_;
  const config::Config& config_;
  std::string_view event_name_;
  const config::StepSpec& step_;
  std::vector<std::optional<tmpl::Template>>& params_;
  std::vector<config::ConfigError>& errors_;
};

// A template error of a step's param, at the mistake itself when the param's text is in the file
// byte for byte, else at the param with the offset in the message.
config::ConfigError param_error(const config::StepSpec& spec, size_t index,
                                std::string_view param_name, const tmpl::TemplateError& error) {
  const std::optional<config::SourceMark> text_start =
      index < spec.param_text_starts.size() ? spec.param_text_starts[index] : std::nullopt;
  config::ConfigError located;
  if (error.offset && text_start) {
    located.mark = *text_start;
    located.mark.column += static_cast<int>(*error.offset);
    located.message = error.message;
  } else {
    located.mark = index < spec.param_marks.size() ? spec.param_marks[index] : spec.mark;
    located.message = tmpl::with_offset(error);
  }
  located.message = fmt::format("`{}` param `{}`: {}", spec.name, param_name, located.message);
  return located;
}

std::string known_names(const StepRegistry& registry, StepKind kind) {
  std::string list;
  for (const std::string& name : registry.names(kind)) {
    if (!list.empty()) list += ", ";
    list += name;
  }
  return list;
}

// What a hook cannot do, as a load-time error, or "" when `action` may run in it. A hook has no
// message and no client waiting for an answer: there is nobody to reply to once a connection
// closed (on_disconnect, on_leave, which also runs at the close), no target but the room of
// on_join/on_leave, and a hook never closes a connection (`_disconnect`). Joins and leaves
// belong in on_connect: in on_join/on_leave they could set off one another without end.
std::string hook_action_problem(Hook hook, std::string_view action, const StepDefinition& step) {
  const bool connection_gone = hook == Hook::on_disconnect || hook == Hook::on_leave;
  if (action == "_disconnect") {
    return fmt::format(
        "`_disconnect` cannot run in a hook (`hooks.{}`): hooks never close "
        "connections",
        hook_name(hook));
  }
  if ((action == "_reply" || action == "_notify_origin") && connection_gone) {
    return fmt::format(
        "`{}` cannot run in `hooks.{}`: the connection may be closed by then, so "
        "there is nobody to answer; use `_notify_user` or `{}`",
        action, hook_name(hook), hook_has_room(hook) ? "_notify_room" : "_broadcast");
  }
  if ((action == "_join" || action == "_leave") && hook != Hook::on_connect) {
    return fmt::format("`{}` can run only in `hooks.on_connect`, not in `hooks.{}`{}", action,
                       hook_name(hook),
                       hook_has_room(hook) ? ": joins and leaves in on_join/on_leave could set "
                                             "off one another without end"
                                           : "");
  }
  if (step.uses_target && !hook_has_room(hook)) {
    return fmt::format(
        "`{}` sends to the message's target, and `hooks.{}` has none (only "
        "on_join and on_leave have a room); use `_notify_user` or `_broadcast`",
        action, hook_name(hook));
  }
  return {};
}

// A hook's template reads no message: no payload, no target (the room is {$room.id}).
std::string hook_template_problem(Hook hook, const tmpl::Template& compiled) {
  if (tmpl::uses_payload(compiled)) {
    return fmt::format(
        "a hook has no payload: `hooks.{}` cannot use `{{.payload...}}` "
        "(it sees {{$user.id}}, {{$conn.id}}, {{$event.name}}, {{$token.<claim>}}{})",
        hook_name(hook), hook_has_room(hook) ? ", {$room.id}" : "");
  }
  if (tmpl::uses_source(compiled, tmpl::Source::target_id)) {
    return fmt::format("a hook has no message target: `hooks.{}` cannot use `{{$target.id}}`{}",
                       hook_name(hook), hook_has_room(hook) ? "; the room is {$room.id}" : "");
  }
  return {};
}

}  // namespace

std::optional<HistoryLimits> CompiledConfig::history_limits(std::string_view room) const {
  if (!has_history_rooms_) return std::nullopt;
  const config::RoomPolicy* policy = config::find_room_policy(config_.rooms, room);
  if (!policy || policy->history_size == 0) return std::nullopt;
  return HistoryLimits{policy->history_size, policy->history_ttl};
}

bool CompiledConfig::is_known_permission(std::string_view name) const {
  return std::find(config_.permissions.begin(), config_.permissions.end(), name) !=
         config_.permissions.end();
}

void CompiledConfig::build_steps(const StepRegistry& registry,
                                 const std::vector<config::StepSpec>& specs, StepKind kind,
                                 Pipeline& pipeline, std::optional<Hook> hook,
                                 std::vector<config::ConfigError>& errors) {
  for (const config::StepSpec& spec : specs) {
    const StepDefinition* definition = registry.find(kind, spec.name);
    if (!definition) {
      const StepKind other = kind == StepKind::action ? StepKind::modifier : StepKind::action;
      std::string message =
          registry.find(other, spec.name)
              ? fmt::format("`{}` is {}, not {}", spec.name,
                            other == StepKind::action ? "an action" : "a modifier",
                            kind == StepKind::action ? "an action" : "a modifier")
              : fmt::format("unknown {} `{}`{} (known: {})",
                            kind == StepKind::action ? "action" : "modifier", spec.name,
                            config::did_you_mean_hint(spec.name, registry.names(kind)),
                            known_names(registry, kind));
      errors.push_back({spec.mark, message});
      continue;
    }
    size_t required = 0;
    for (const ParamSpec& param : definition->params) required += param.optional ? 0 : 1;
    if (spec.params.size() < required || spec.params.size() > definition->params.size()) {
      errors.push_back(
          {spec.mark, fmt::format(
                          "`{}` takes {} param{} ({}), got {}", spec.name,
                          required == definition->params.size()
                              ? fmt::format("{}", required)
                              : fmt::format("{} to {}", required, definition->params.size()),
                          definition->params.size() == 1 ? "" : "s",
                          [&] {
                            std::string names;
                            for (const ParamSpec& p : definition->params) {
                              if (!names.empty()) names += ", ";
                              names += p.name;
                            }
                            return names;
                          }(),
                          spec.params.size())});
      continue;
    }
    if (hook) {
      if (std::string problem = hook_action_problem(*hook, spec.name, *definition);
          !problem.empty()) {
        errors.push_back({spec.mark, std::move(problem)});
        continue;
      }
    }
    for (const auto& [option, value] : spec.options) {
      const auto& allowed = definition->allowed_options;
      if (std::find(allowed.begin(), allowed.end(), option) == allowed.end()) {
        std::vector<std::string> known(allowed.begin(), allowed.end());
        known.insert(known.end(), {"name", "params"});
        errors.push_back({spec.mark, fmt::format("`{}` has no option `{}`{}", spec.name, option,
                                                 config::did_you_mean_hint(option, known))});
      }
    }
    // Heap-held and kept by the CompiledConfig: steps keep pointers to their params.
    auto params_storage =
        std::make_unique<std::vector<std::optional<tmpl::Template>>>(definition->params.size());
    auto& params = *params_storage;
    bool params_ok = true;
    for (size_t i = 0; i < spec.params.size(); ++i) {
      const ParamSpec& param = definition->params[i];
      tmpl::CompileOptions options;
      if (param.event_name) options = tmpl::CompileOptions::event_name();
      options.allow_room_id = hook && hook_has_room(*hook);
      std::vector<tmpl::TemplateError> template_errors;
      params[i] = tmpl::Template::compile(spec.params[i], param.kind, options, template_errors);
      if (!params[i]) {
        for (const tmpl::TemplateError& error : template_errors) {
          errors.push_back(param_error(spec, i, param.name, error));
        }
        params_ok = false;
        continue;
      }
      if (hook) {
        if (std::string problem = hook_template_problem(*hook, *params[i]); !problem.empty()) {
          errors.push_back({i < spec.param_marks.size() ? spec.param_marks[i] : spec.mark,
                            fmt::format("`{}` param `{}`: {}", spec.name, param.name, problem)});
          params_ok = false;
          continue;
        }
      }
      std::set<std::string> claims;
      tmpl::collect_claims(*params[i], claims);
      wanted_claims_.insert(claims.begin(), claims.end());
      if (tmpl::uses_source(*params[i], tmpl::Source::target_id)) pipeline.needs_target = true;
    }
    if (!params_ok) continue;
    BuildContext context(*this, pipeline.event, spec, params, errors);
    std::unique_ptr<Step> step = definition->factory(context);
    if (context.failed || !step) continue;
    pipeline.steps.push_back(std::move(step));
    param_storage_.push_back(std::move(params_storage));
    pipeline.step_names.push_back(spec.name);
    if (definition->uses_target) pipeline.needs_target = true;
  }
}

std::shared_ptr<const CompiledConfig> CompiledConfig::compile(
    config::Config config, const StepRegistry& registry, std::vector<config::ConfigError>& errors) {
  auto compiled = std::shared_ptr<CompiledConfig>(new CompiledConfig());
  compiled->config_ = std::move(config);
  const size_t errors_before = errors.size();
  compiled->session_jwt_ = jwt_settings_of(compiled->config_.auth.jwt);
  if (const config::JwtConfig& jwt = compiled->config_.auth.jwt; !jwt.public_key_file.empty()) {
    std::string why;
    compiled->session_jwt_.public_key = auth::PublicKey::from_pem_file(jwt.public_key_file, why);
    if (!compiled->session_jwt_.public_key) {
      config::ConfigError& error = errors.emplace_back();
      error.mark = jwt.public_key_mark;
      error.message = "`auth.jwt.public_key_file`: " + why;
    }
  }

  for (const config::RoomPolicy& room : compiled->config_.rooms) {
    if (!room.join_permission.empty() && !compiled->is_known_permission(room.join_permission)) {
      errors.push_back({room.join_permission_mark,
                        fmt::format("`rooms.{}.join_permission`: `{}` is not in the config's "
                                    "`permissions:` list; add it there",
                                    room.glob, room.join_permission)});
    }
    if (room.history_size > 0) compiled->has_history_rooms_ = true;
  }

  for (const config::WebhookTarget& target : compiled->config_.webhooks) {
    if (target.url.empty()) {
      errors.push_back({target.mark, fmt::format("`webhooks.{}`: `url` is required, like "
                                                 "\"http://127.0.0.1:9000/dispatch\"",
                                                 target.name)});
      continue;
    }
    compiled->webhooks_.emplace(target.name, webhook::WebhookClient::create(target));
  }

  for (const config::EventSpec& event : compiled->config_.events) {
    Pipeline pipeline;
    pipeline.event = event.name;
    pipeline.index = static_cast<size_t>(&event - compiled->config_.events.data());
    if (event.schema) {
      if (auto schema =
              schema::compile_schema(*event.schema, "events." + event.name + ".schema", errors)) {
        pipeline.schema = std::make_unique<const schema::Schema>(std::move(*schema));
      }
    }
    compiled->build_steps(registry, event.modifiers, StepKind::modifier, pipeline, std::nullopt,
                          errors);
    compiled->build_steps(registry, event.actions, StepKind::action, pipeline, std::nullopt,
                          errors);
    compiled->events_.emplace(event.name, std::move(pipeline));
  }

  const config::HooksConfig& hooks = compiled->config_.hooks;
  for (const Hook hook : {Hook::on_connect, Hook::on_disconnect, Hook::on_join, Hook::on_leave}) {
    const std::vector<config::StepSpec>& actions = hook == Hook::on_connect ? hooks.on_connect
                                                   : hook == Hook::on_disconnect
                                                       ? hooks.on_disconnect
                                                   : hook == Hook::on_join ? hooks.on_join
                                                                           : hooks.on_leave;
    Pipeline& pipeline = compiled->hooks_[static_cast<size_t>(hook)];
    pipeline.event = std::string(hook_name(hook));
    compiled->build_steps(registry, actions, StepKind::action, pipeline, hook, errors);
  }

  if (errors.size() != errors_before) return nullptr;
  return compiled;
}

}  // namespace dispatch
