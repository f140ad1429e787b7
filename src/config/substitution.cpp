#include "config/substitution.h"

#include <algorithm>

#include "config/suggestion.h"

namespace dispatch::config {

namespace {

bool is_valid_variable_name(std::string_view name) {
  if (name.empty()) return false;
  auto is_letter = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  if (!is_letter(name.front())) return false;
  for (char c : name) {
    if (!is_letter(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> referenced_variables(std::string_view text) {
  std::vector<std::string> names;
  size_t pos = 0;
  while ((pos = text.find("${", pos)) != std::string_view::npos) {
    const size_t close = text.find('}', pos + 2);
    if (close == std::string_view::npos) break;
    const std::string_view reference = text.substr(pos + 2, close - pos - 2);
    const std::string_view name = reference.substr(0, reference.find(":-"));
    if (is_valid_variable_name(name) &&
        std::find(names.begin(), names.end(), name) == names.end()) {
      names.emplace_back(name);
    }
    pos = close + 1;
  }
  return names;
}

std::string unset_variable_placeholder(std::string_view name) {
  // Appended, not a chain of operator+: GCC 12 at -O3 warns (-Wrestrict) on that chain.
  std::string placeholder = "(";
  placeholder.append(name).append(" is not set; checked without it)");
  return placeholder;
}

bool holds_unset_variable_placeholder(std::string_view value) {
  return value.find(" is not set; checked without it)") != std::string_view::npos;
}

SubstitutionResult substitute_variables(std::string_view text, const Environment& environment,
                                        bool unset_as_placeholder) {
  SubstitutionResult result;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = text.find("${", pos);
    if (start == std::string_view::npos) break;
    result.text.append(text.substr(pos, start - pos));

    const size_t close = text.find('}', start + 2);
    if (close == std::string_view::npos) {
      result.errors.push_back("`${` has no closing `}` (write ${NAME} or ${NAME:-default})");
      result.text.append(text.substr(start));
      return result;
    }
    const std::string_view reference = text.substr(start + 2, close - start - 2);
    const size_t default_marker = reference.find(":-");
    const std::string_view name = reference.substr(0, default_marker);
    pos = close + 1;

    if (!is_valid_variable_name(name)) {
      result.errors.push_back(
          "`${` must be followed by a variable name (letters, digits, _) and "
          "`}` or `:-default}`");
      continue;
    }
    const std::optional<std::string> value = environment.lookup(name);
    if (default_marker != std::string_view::npos) {
      if (value && !value->empty()) {
        result.text.append(*value);
      } else {
        result.text.append(reference.substr(default_marker + 2));
      }
    } else if (value) {
      result.text.append(*value);
    } else if (unset_as_placeholder) {
      result.text.append(unset_variable_placeholder(name));
      result.unset_variables.emplace_back(name);
    } else {
      std::string hint;
      if (const auto close_name = closest_match(name, environment.names())) {
        hint = "; did you mean `" + *close_name + "`, which is set?";
      }
      result.errors.push_back("environment variable `" + std::string(name) +
                              "` is not set (set it in the environment or in .env, or write ${" +
                              std::string(name) + ":-default})" + hint);
    }
  }
  result.text.append(text.substr(pos));
  return result;
}

}  // namespace dispatch::config
