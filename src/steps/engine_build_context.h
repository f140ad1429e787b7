// What a built-in step may read at load time beyond the public StepBuildContext: the typed
// config (`secure` reads auth.event_jwt) and errors at a param's own position. The engine's build
// context (pipeline/compiled_config.cpp) is one of these; a custom step sees only the public
// interface.
#pragma once

#include <memory>
#include <string_view>

#include "config/config.h"
#include "dispatch/extension.h"
#include "webhook/webhook_client.h"

namespace dispatch {

class EngineBuildContext : public StepBuildContext {
 public:
  virtual const config::Config& config() const = 0;
  // A load-time error at the position of param `index` (e.g. an invalid regex).
  virtual void error_at_param(size_t index, std::string message) = 0;
  // The client of the target declared as `webhooks.<name>`, or nullptr when there is none.
  virtual std::shared_ptr<webhook::WebhookClient> webhook_client(std::string_view name) const = 0;
};

// The config behind a build context of the engine's (every context that builds a built-in).
inline const config::Config& engine_config(StepBuildContext& build) {
  return dynamic_cast<EngineBuildContext&>(build).config();
}

}  // namespace dispatch
