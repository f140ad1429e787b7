// "Did you mean" hints for misspelt keys and values. Words are compared case-insensitively and
// ignoring `_` and `-` (so `maxMessageSize` finds `max_message_size`), by edit distance with
// transpositions; a candidate is suggested only when it is within about a third of its length.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dispatch::config {

std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

// " (did you mean `x`?)" for the closest candidate, or "" when nothing is close.
std::string did_you_mean_hint(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace dispatch::config
