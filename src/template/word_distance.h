// How far apart two words are, for "did you mean" hints: words are compared case-insensitively
// and ignoring `_` and `-` (normalized_word), by optimal string alignment distance (insertions,
// deletions, substitutions and swaps of two neighbouring characters each cost 1). Shared by
// template placeholder suggestions and config key suggestions (config/suggestion.h); it lives
// here, the lower of the two layers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dispatch {

std::string normalized_word(std::string_view word);
size_t word_distance(const std::string& a, const std::string& b);

}  // namespace dispatch
