#include "pipeline/compiled_config.h"

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
  BuildContext(const CompiledConfig& compiled, const config::EventSpec& event,
               const config::StepSpec& step, std::vector<std::optional<tmpl::Template>>& params,
               std::vector<config::ConfigError>& errors)
      : compiled_(compiled),
        config_(compiled.config()),
        event_(event),
        step_(step),
        params_(params),
        errors_(errors) {}

  const config::Config& config() const override { return config_; }
  std::string_view event_name() const override { return event_.name; }
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
  const config::EventSpec& event_;
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

}  // namespace

bool CompiledConfig::is_known_permission(std::string_view name) const {
  return std::find(config_.permissions.begin(), config_.permissions.end(), name) !=
         config_.permissions.end();
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
    auto build_steps = [&](const std::vector<config::StepSpec>& specs, StepKind kind) {
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
          std::vector<tmpl::TemplateError> template_errors;
          params[i] = tmpl::Template::compile(spec.params[i], param.kind, options, template_errors);
          if (!params[i]) {
            for (const tmpl::TemplateError& error : template_errors) {
              errors.push_back(param_error(spec, i, param.name, error));
            }
            params_ok = false;
            continue;
          }
          std::set<std::string> claims;
          tmpl::collect_claims(*params[i], claims);
          compiled->wanted_claims_.insert(claims.begin(), claims.end());
          if (tmpl::uses_source(*params[i], tmpl::Source::target_id)) pipeline.needs_target = true;
        }
        if (!params_ok) continue;
        BuildContext context(*compiled, event, spec, params, errors);
        std::unique_ptr<Step> step = definition->factory(context);
        if (context.failed || !step) continue;
        pipeline.steps.push_back(std::move(step));
        compiled->param_storage_.push_back(std::move(params_storage));
        pipeline.step_names.push_back(spec.name);
        if (definition->uses_target) pipeline.needs_target = true;
      }
    };
    build_steps(event.modifiers, StepKind::modifier);
    build_steps(event.actions, StepKind::action);
    compiled->events_.emplace(event.name, std::move(pipeline));
  }

  if (errors.size() != errors_before) return nullptr;
  return compiled;
}

}  // namespace dispatch
