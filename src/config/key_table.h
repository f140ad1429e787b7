// The table of every config.yaml key: its dotted path, type, default (as written in YAML), a
// one-line description, and whether this version implements it. The loader walks YAML
// against this table (an unknown key is one the table lacks), and docs/CONFIG.md is generated
// from and checked against it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dispatch::config {

enum class KeyType {
  section,         // a mapping of the keys listed below it
  named_sections,  // a mapping from names the user chooses (`<name>` in paths) to sections
  mapping,         // any mapping (only for keys not implemented yet)
  string,
  boolean,
  integer,
  size,         // 64KiB, 1MiB or bytes
  duration,     // 250ms, 30s, 5m, 1h
  rate,         // 10/m, 10/10s
  address,      // host:port
  threads,      // auto or a positive integer
  choice,       // one of KeyInfo::choices
  string_list,  // [a, b]
  steps,        // a list of {name, params, ...} steps
  schema,       // a payload schema (JSON Schema subset), kept as written for src/schema/
  any,          // anything (only for keys not implemented yet)
};

std::string_view to_string(KeyType type);

struct KeyInfo {
  std::string path;  // dotted; `<name>` stands for a name the user chooses
  KeyType type = KeyType::string;
  std::string default_text;  // as it would be written in YAML; "" when the default is empty
  std::string doc;           // one line
  // false: accepted only when absent or left at its default; anything else is the error
  // "`<path>` is not supported yet by this version of dispatch".
  bool implemented = true;
  std::vector<std::string> choices;  // for KeyType::choice
  std::string alias_of;              // GoDispatch compatibility keys: the key this one sets
  bool secret = false;               // a value that must never be logged or echoed
};

// Every key, parents before their children, in the order of SPEC.md section 2.
const std::vector<KeyInfo>& config_keys();

// The key with exactly this dotted path (e.g. "events.<name>.actions"), or nullptr.
const KeyInfo* find_config_key(std::string_view path);

}  // namespace dispatch::config
