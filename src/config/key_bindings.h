// Internal to the loader: each KeyInfo of the key table together with the code that stores
// its value into a Config. Kept beside the table (key_table.cpp) so that a key, its default,
// its documentation and its parsing are written down exactly once.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/key_table.h"
#include "config/value_reader.h"

namespace dispatch::config {

// What a value is stored into: the config, and for keys under `events.<name>` the event (under
// `rooms.<name>` the room policy).
struct ApplyTarget {
  Config& config;
  EventSpec* event = nullptr;
  RoomPolicy* room = nullptr;
  WebhookTarget* webhook = nullptr;  // under `webhooks.<name>`
};

struct KeyBinding {
  KeyInfo info;
  // Leaf keys: reads a non-null `value` (reporting problems through the reader) and stores it.
  std::function<void(ValueReader&, const YAML::Node& value, const std::string& path, ApplyTarget&)>
      apply;
  // Sections under a named_sections key: called once per name, before the section is read.
  std::function<void(ApplyTarget&, const std::string& name, const SourceMark& mark)> enter;
};

const std::vector<KeyBinding>& key_bindings();
const KeyBinding* find_key_binding(std::string_view path);

}  // namespace dispatch::config
