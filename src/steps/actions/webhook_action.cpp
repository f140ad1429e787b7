// The built-in `_webhook` action: queues a POST of the filled body to a target declared under
// `webhooks:` and is done at once (best effort: the delivery, its retries and its outcome are
// the target's business, see webhook/webhook_client.h). The target is named by a literal that
// must be declared, so a URL never comes from a message.
#include <memory>
#include <string>
#include <vector>

#include "config/suggestion.h"
#include "dispatch/extension.h"
#include "steps/builtin_steps.h"
#include "steps/engine_build_context.h"
#include "webhook/webhook_client.h"

namespace dispatch {

namespace {

class WebhookAction final : public Step {
 public:
  WebhookAction(std::shared_ptr<webhook::WebhookClient> client, const Param& body)
      : client_(std::move(client)), body_(body) {}

  StepStatus run(StepContext& ctx) override {
    std::string body;
    if (!ctx.fill(body_, body)) return StepStatus::failed;
    client_->enqueue(ctx.executor(), ctx.event_name(), std::move(body), ctx.unix_seconds());
    return StepStatus::done;
  }

 private:
  std::shared_ptr<webhook::WebhookClient> client_;
  const Param& body_;
};

std::unique_ptr<Step> build_webhook_action(StepBuildContext& build) {
  auto& engine = dynamic_cast<EngineBuildContext&>(build);
  const Param& target = *build.param(0);
  if (!target.is_literal()) {
    engine.error_at_param(0,
                          "the target name must be written out (a name under `webhooks:`), "
                          "not a template: a URL never comes from a message");
    return nullptr;
  }
  const std::string name(target.literal_text());
  auto client = engine.webhook_client(name);
  if (!client) {
    std::vector<std::string> known;
    for (const config::WebhookTarget& declared : engine.config().webhooks) {
      if (declared.name == name) return nullptr;  // declared but invalid: reported there
    }
    for (const config::WebhookTarget& declared : engine.config().webhooks) {
      known.push_back(declared.name);
    }
    std::string message = "no webhook target `" + name + "`";
    if (known.empty()) {
      message += ": declare it under `webhooks:` with its url";
    } else {
      const std::string hint = config::did_you_mean_hint(name, known);
      message += hint.empty() ? " is declared under `webhooks:`" : hint;
      if (hint.empty()) {
        std::string list;
        for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
        message += " (declared: " + list + ")";
      }
    }
    engine.error_at_param(0, std::move(message));
    return nullptr;
  }
  return std::make_unique<WebhookAction>(std::move(client), *build.param(1));
}

}  // namespace

void register_webhook_action(StepRegistry& registry) {
  StepDefinition definition;
  definition.name = "_webhook";
  definition.params = {params::name("target name"), params::json("body")};
  definition.factory = build_webhook_action;
  registry.add(std::move(definition));
}

}  // namespace dispatch
