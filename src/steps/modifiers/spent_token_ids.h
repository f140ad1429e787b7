// The token ids (`jti`) a `secure` step with `once` has let through, each remembered until its
// token can no longer verify (exp + leeway), so memory holds only tokens still alive. Per step
// and per process: a config reload or another node starts with nothing spent. Shared by every
// event loop (a mutex; expired ids are dropped in expiry order as new ones arrive, so each id
// costs O(log n) once to add and once to forget).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace dispatch {

class SpentTokenIds {
 public:
  // True the first time `id` is spent while remembered; it is then remembered until
  // `forget_after` (unix seconds). `now` is the loop's wall clock in unix seconds.
  bool spend(std::string_view id, int64_t forget_after, int64_t now);

  // Ids currently remembered.
  size_t size() const;

 private:
  void forget_expired(int64_t now);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, int64_t> forget_after_by_id_;
  std::multimap<int64_t, std::string> ids_by_forget_after_;
};

}  // namespace dispatch
