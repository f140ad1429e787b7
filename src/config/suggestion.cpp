#include "config/suggestion.h"

#include "template/word_distance.h"

#include <algorithm>
#include <limits>

namespace dispatch::config {

std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates) {
  const std::string wanted = normalized_word(word);
  std::optional<std::string> best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& candidate : candidates) {
    if (candidate == word) continue;  // not a hint
    const std::string other = normalized_word(candidate);
    const size_t distance = word_distance(wanted, other);
    const size_t allowed = std::max<size_t>(1, std::max(wanted.size(), other.size()) / 3);
    if (distance <= allowed && distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string did_you_mean_hint(std::string_view word, const std::vector<std::string>& candidates) {
  const auto match = closest_match(word, candidates);
  return match ? " (did you mean `" + *match + "`?)" : "";
}

}  // namespace dispatch::config
