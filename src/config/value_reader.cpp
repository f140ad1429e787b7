#include "config/value_reader.h"

#include <map>

#include "config/scalar_position.h"
#include "config/substitution.h"
#include "config/suggestion.h"
#include "config/units.h"

namespace dispatch::config {

namespace {

std::string shortened_for_message(std::string_view text) {
  constexpr size_t kMaxShown = 60;
  std::string out;
  for (char c : text.substr(0, kMaxShown)) {
    if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out;
}

}  // namespace

std::string with_offending_text(std::string_view problem, std::string_view got) {
  std::string_view base = problem;
  std::string_view hint;
  if (problem.ends_with(')')) {
    if (const size_t open = problem.rfind(" ("); open != std::string_view::npos) {
      base = problem.substr(0, open);
      hint = problem.substr(open);
    }
  }
  return std::string(base) + ", got `" + shortened_for_message(got) + "`" + std::string(hint);
}

namespace {

std::string quoted_path(std::string_view path) {
  // Appended, not "`" + std::string(path): GCC 12 at -O3 warns (-Wrestrict) on that form.
  std::string quoted = "`";
  quoted += path;
  quoted += '`';
  return quoted;
}

}  // namespace

std::string_view describe_node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a single value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

ValueReader::ValueReader(std::string file_name, const Environment& environment,
                         std::vector<ConfigError>& errors)
    : file_name_(std::move(file_name)), environment_(environment), errors_(errors) {}

SourceMark ValueReader::mark_of(const YAML::Node& node) const {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0 || mark.column < 0) return {file_name_, 0, 0};
  return {file_name_, mark.line + 1, mark.column + 1};
}

std::optional<SourceMark> ValueReader::verbatim_text_start(const YAML::Node& node,
                                                           std::string_view text) const {
  return config::verbatim_text_start(source_text_, node.Mark(), text, file_name_);
}

void ValueReader::error(const SourceMark& mark, std::string message) {
  errors_.push_back({mark, std::move(message)});
}

void ValueReader::for_each_entry(
    const YAML::Node& mapping, const std::string& path,
    const std::function<void(const std::string&, const YAML::Node&, const YAML::Node&)>& visit) {
  // yaml-cpp keeps repeated keys as separate entries (lookups find the first), so repeats are
  // found here, in file order, and reported at the later one.
  std::map<std::string, int> first_line_of_key;
  for (const auto& entry : mapping) {
    // Copies: yaml-cpp's iterators hand out proxies that a reference would outlive.
    const YAML::Node key = entry.first;
    const YAML::Node value = entry.second;
    if (!key.IsScalar()) {
      error(key, (path.empty() ? std::string("keys") : "keys of " + quoted_path(path)) +
                     " must be plain names, got " + std::string(describe_node_kind(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    const std::string full_name = path.empty() ? name : path + "." + name;
    const auto [first, inserted] = first_line_of_key.emplace(name, mark_of(key).line);
    if (!inserted) {
      error(key, "duplicate key " + quoted_path(full_name) + " (first set on line " +
                     std::to_string(first->second) + ")");
      continue;
    }
    visit(name, key, value);
  }
}

std::optional<std::string> ValueReader::text(const YAML::Node& node, std::string_view path,
                                             std::string_view expected) {
  if (!node.IsScalar()) {
    error(node, quoted_path(path) + ": expected " + std::string(expected) + ", got " +
                    std::string(describe_node_kind(node)));
    return std::nullopt;
  }
  SubstitutionResult substituted = substitute_variables(node.Scalar(), environment_);
  for (const std::string& problem : substituted.errors) {
    error(node, quoted_path(path) + ": " + problem);
  }
  if (!substituted.errors.empty()) return std::nullopt;
  return std::move(substituted.text);
}

void ValueReader::value_error(const YAML::Node& node, std::string_view path,
                              std::string_view problem, std::string_view got) {
  error(node, quoted_path(path) + ": " + with_offending_text(problem, got));
}

std::optional<std::string> ValueReader::read_string(const YAML::Node& node, std::string_view path) {
  return text(node, path);
}

std::optional<std::string> ValueReader::read_secret(const YAML::Node& node, std::string_view path) {
  if (!environment_.unset_secrets_allowed() || !node.IsScalar()) return text(node, path);
  SubstitutionResult substituted = substitute_variables(node.Scalar(), environment_, true);
  for (const std::string& problem : substituted.errors) {
    error(node, quoted_path(path) + ": " + problem);
  }
  for (const std::string& name : substituted.unset_variables) {
    note(mark_of(node), "not set: " + name + " (checked without it)");
  }
  if (!substituted.errors.empty()) return std::nullopt;
  return std::move(substituted.text);
}

void ValueReader::note(const SourceMark& mark, std::string message) {
  if (notes_) notes_->push_back({mark, std::move(message)});
}

std::optional<bool> ValueReader::read_bool(const YAML::Node& node, std::string_view path) {
  const auto value = text(node, path, "true or false");
  if (!value) return std::nullopt;
  if (*value == "true" || *value == "True" || *value == "TRUE") return true;
  if (*value == "false" || *value == "False" || *value == "FALSE") return false;
  value_error(node, path, "expected true or false", *value);
  return std::nullopt;
}

std::optional<uint64_t> ValueReader::read_unsigned(const YAML::Node& node, std::string_view path,
                                                   uint64_t max_value) {
  const std::string expected = "expected a whole number from 0 to " + std::to_string(max_value);
  const auto value = text(node, path, "a whole number");
  if (!value) return std::nullopt;
  uint64_t number = 0;
  bool valid = !value->empty();
  for (char c : *value) {
    if (c < '0' || c > '9') {
      valid = false;
      break;
    }
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (digit > max_value || number > (max_value - digit) / 10) {
      valid = false;
      break;
    }
    number = number * 10 + digit;
  }
  if (!valid) {
    value_error(node, path, expected, *value);
    return std::nullopt;
  }
  return number;
}

std::optional<Duration> ValueReader::read_duration(const YAML::Node& node, std::string_view path) {
  const auto value = text(node, path, "a duration like 250ms, 30s, 5m or 1h");
  if (!value) return std::nullopt;
  auto parsed = parse_duration(*value);
  if (!parsed) value_error(node, path, parsed.error, *value);
  return parsed.value;
}

std::optional<uint64_t> ValueReader::read_size(const YAML::Node& node, std::string_view path) {
  const auto value = text(node, path, "a size like 64KiB or 1MiB");
  if (!value) return std::nullopt;
  auto parsed = parse_size(*value);
  if (!parsed) value_error(node, path, parsed.error, *value);
  return parsed.value;
}

std::optional<RateSpec> ValueReader::read_rate(const YAML::Node& node, std::string_view path) {
  const auto value = text(node, path, "a rate like 10/m or 10/10s");
  if (!value) return std::nullopt;
  auto parsed = parse_rate(*value);
  if (!parsed) value_error(node, path, parsed.error, *value);
  return parsed.value;
}

std::optional<size_t> ValueReader::read_choice(const YAML::Node& node, std::string_view path,
                                               const std::vector<std::string>& choices) {
  std::string expected = "expected one of ";
  for (size_t i = 0; i < choices.size(); ++i) {
    expected += (i == 0 ? "" : " | ") + choices[i];
  }
  const auto value = text(node, path, expected.substr(std::string_view("expected ").size()));
  if (!value) return std::nullopt;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i] == *value) return i;
  }
  error(node, quoted_path(path) + ": " + with_offending_text(expected, *value) +
                  did_you_mean_hint(*value, choices));
  return std::nullopt;
}

std::optional<std::vector<std::string>> ValueReader::read_string_list(const YAML::Node& node,
                                                                      std::string_view path) {
  if (node.IsNull()) return std::vector<std::string>{};
  if (!node.IsSequence()) {
    error(node, quoted_path(path) + ": expected a list like [\"a\", \"b\"], got " +
                    std::string(describe_node_kind(node)));
    return std::nullopt;
  }
  std::vector<std::string> items;
  bool all_read = true;
  for (size_t i = 0; i < node.size(); ++i) {
    const auto item = text(node[i], std::string(path) + "[" + std::to_string(i) + "]");
    if (item) {
      items.push_back(*item);
    } else {
      all_read = false;
    }
  }
  if (!all_read) return std::nullopt;
  return items;
}

bool ValueReader::is_default_value(const YAML::Node& node, std::string_view path,
                                   std::string_view default_text) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return true;
    case YAML::NodeType::Scalar: {
      const auto value = text(node, path);
      // An unset variable was reported already; do not also call the key unsupported.
      return !value || value->empty() || *value == default_text;
    }
    case YAML::NodeType::Sequence:
      return node.size() == 0;
    case YAML::NodeType::Map: {
      bool all_default = true;
      for (const auto& entry : node) {
        const YAML::Node key = entry.first;
        const std::string child_path =
            std::string(path) + "." + (key.IsScalar() ? key.Scalar() : "?");
        if (!is_default_value(entry.second, child_path, "")) all_default = false;
      }
      return all_default;
    }
  }
  return true;
}

}  // namespace dispatch::config
