#include "config/steps_reader.h"

#include <utility>

#include "config/suggestion.h"

namespace dispatch::config {

namespace {

bool is_name_in_other_case(std::string_view key) {
  if (key.size() != 4) return false;
  std::string lower;
  for (char c : key) lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return lower == "name";
}

std::string indexed(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

// Reads `params:`; false when something was reported.
bool read_params(ValueReader& reader, const YAML::Node& node, const std::string& path,
                 StepSpec& step) {
  if (node.IsNull()) return true;
  if (!node.IsSequence()) {
    reader.error(node, "`" + path + "`: expected a list like [\"a\", \"b\"], got " +
                           std::string(describe_node_kind(node)));
    return false;
  }
  bool all_read = true;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node param = node[i];
    const std::string param_path = indexed(path, i);
    if (param.IsNull()) {
      reader.error(param, "`" + param_path +
                              "` is empty; write \"\" for empty text, or quote it (\"null\")");
      all_read = false;
      continue;
    }
    if (!param.IsScalar()) {
      reader.error(param, "`" + param_path + "`: expected text, got " +
                              std::string(describe_node_kind(param)) +
                              " (quote JSON documents: '{\"key\": \"value\"}')");
      all_read = false;
      continue;
    }
    auto text = reader.text(param, param_path);
    if (!text) {
      all_read = false;
      continue;
    }
    step.param_text_starts.push_back(reader.verbatim_text_start(param, *text));
    step.params.push_back(std::move(*text));
    step.param_marks.push_back(reader.mark_of(param));
  }
  return all_read;
}

std::optional<StepSpec> read_step(ValueReader& reader, const YAML::Node& node,
                                  const std::string& path) {
  if (!node.IsMap()) {
    reader.error(node, "`" + path +
                           "`: expected a step like {name: _notify_room, params: [...]}, got " +
                           std::string(describe_node_kind(node)));
    return std::nullopt;
  }
  StepSpec step;
  step.mark = reader.mark_of(node);
  bool has_name = false;
  std::optional<std::pair<std::string, YAML::Node>> name_misspelt;  // `nme:` in a step without name
  const size_t errors_before = reader.error_count();
  reader.for_each_entry(
      node, path, [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& value) {
        const std::string key_path = path + "." + key;
        if (key == "name") {
          has_name = true;
          auto name =
              value.IsNull() ? std::optional<std::string>("") : reader.text(value, key_path);
          if (name && name->empty()) {
            reader.error(value.IsNull() ? key_node : value, "`" + key_path + "` must not be empty");
          } else if (name) {
            step.name = std::move(*name);
          }
          return;
        }
        if (key == "params") {
          read_params(reader, value, key_path, step);
          return;
        }
        // Options belong to the step, which validates them; only near-misses of the two keys
        // every step has are caught here (`name` only by case: short options like `game`
        // would otherwise be flagged).
        std::string hint = did_you_mean_hint(key, {"params"});
        if (hint.empty() && is_name_in_other_case(key)) hint = " (did you mean `name`?)";
        if (!hint.empty()) {
          reader.error(key_node, "unknown key `" + key_path + "`" + hint);
          return;
        }
        if (!name_misspelt && closest_match(key, {"name"}))
          name_misspelt.emplace(key_path, key_node);
        if (value.IsNull()) {
          step.options[key] = "";
          return;
        }
        if (auto option = reader.text(value, key_path, "text (step options are text)")) {
          step.options[key] = std::move(*option);
        }
      });
  if (!has_name && name_misspelt) {
    reader.error(name_misspelt->second,
                 "unknown key `" + name_misspelt->first + "` (did you mean `name`?)");
  } else if (!has_name) {
    reader.error(node, "`" + path + "`: a step needs a `name`");
  }
  if (reader.error_count() != errors_before) return std::nullopt;
  return step;
}

}  // namespace

std::optional<std::vector<StepSpec>> read_steps(ValueReader& reader, const YAML::Node& node,
                                                const std::string& path) {
  if (node.IsNull()) return std::vector<StepSpec>{};
  if (!node.IsSequence()) {
    reader.error(node, "`" + path + "`: expected a list of steps (`- name: ...`), got " +
                           std::string(describe_node_kind(node)));
    return std::nullopt;
  }
  std::vector<StepSpec> steps;
  bool all_read = true;
  for (size_t i = 0; i < node.size(); ++i) {
    if (auto step = read_step(reader, node[i], indexed(path, i))) {
      steps.push_back(std::move(*step));
    } else {
      all_read = false;
    }
  }
  if (!all_read) return std::nullopt;
  return steps;
}

}  // namespace dispatch::config
