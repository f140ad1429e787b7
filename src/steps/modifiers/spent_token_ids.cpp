#include "steps/modifiers/spent_token_ids.h"

namespace dispatch {

bool SpentTokenIds::spend(std::string_view id, int64_t forget_after, int64_t now) {
  std::lock_guard lock(mutex_);
  forget_expired(now);
  auto [entry, added] = forget_after_by_id_.try_emplace(std::string(id), forget_after);
  if (!added) return false;
  ids_by_forget_after_.emplace(forget_after, entry->first);
  return true;
}

size_t SpentTokenIds::size() const {
  std::lock_guard lock(mutex_);
  return forget_after_by_id_.size();
}

void SpentTokenIds::forget_expired(int64_t now) {
  while (!ids_by_forget_after_.empty() && ids_by_forget_after_.begin()->first <= now) {
    forget_after_by_id_.erase(ids_by_forget_after_.begin()->second);
    ids_by_forget_after_.erase(ids_by_forget_after_.begin());
  }
}

}  // namespace dispatch
