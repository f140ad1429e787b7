#include <algorithm>
#include <stdexcept>

#include "dispatch/extension.h"

namespace dispatch {

void StepRegistry::add(StepDefinition definition) {
  auto same = std::find_if(definitions_.begin(), definitions_.end(), [&](const StepDefinition& d) {
    return d.kind == definition.kind && d.name == definition.name;
  });
  if (same != definitions_.end()) {
    throw std::invalid_argument(
        "a step named `" + definition.name + "` is already registered as " +
        (definition.kind == StepKind::action ? "an action" : "a modifier") +
        ": give the custom step another name (built-in names start with `_` or are listed by "
        "`dispatch --help`)");
  }
  definitions_.push_back(std::move(definition));
}

const StepDefinition* StepRegistry::find(StepKind kind, std::string_view name) const {
  for (const StepDefinition& definition : definitions_) {
    if (definition.kind == kind && definition.name == name) return &definition;
  }
  return nullptr;
}

std::vector<std::string> StepRegistry::names(StepKind kind) const {
  std::vector<std::string> result;
  for (const StepDefinition& definition : definitions_) {
    if (definition.kind == kind) result.push_back(definition.name);
  }
  return result;
}

}  // namespace dispatch
