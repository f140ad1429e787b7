#include "config/room_policy.h"

namespace dispatch::config {

// Iterative matching with one backtrack point (the last `*`): no recursion, no blow-up.
bool glob_matches(std::string_view glob, std::string_view text) {
  size_t g = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;  // position in glob after the last `*`
  size_t star_text = 0;                  // where in text that `*` currently ends
  while (t < text.size()) {
    if (g < glob.size() && (glob[g] == '?' || (glob[g] != '*' && glob[g] == text[t]))) {
      ++g;
      ++t;
    } else if (g < glob.size() && glob[g] == '*') {
      star = ++g;
      star_text = t;
    } else if (star != std::string_view::npos) {
      g = star;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

const RoomPolicy* find_room_policy(const std::vector<RoomPolicy>& policies, std::string_view room) {
  for (const RoomPolicy& policy : policies) {
    if (glob_matches(policy.glob, room)) return &policy;
  }
  return nullptr;
}

}  // namespace dispatch::config
