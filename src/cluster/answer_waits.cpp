#include "cluster/answer_waits.h"

namespace dispatch::cluster {

uint32_t AnswerWaits::start(Done done) {
  std::lock_guard lock(mutex_);
  uint32_t request = next_++;
  if (request == 0) request = next_++;  // 0 means "no answer wanted" on the wire
  waits_[request].done = std::move(done);
  return request;
}

void AnswerWaits::expect(uint32_t request, int64_t answers) {
  {
    std::lock_guard lock(mutex_);
    auto found = waits_.find(request);
    if (found == waits_.end()) return;
    found->second.expected = answers;
  }
  end_if_complete(request, false);
}

void AnswerWaits::answer(uint32_t request, std::string body) {
  {
    std::lock_guard lock(mutex_);
    auto found = waits_.find(request);
    if (found == waits_.end()) return;
    found->second.answers.push_back(std::move(body));
  }
  end_if_complete(request, false);
}

void AnswerWaits::finish(uint32_t request) {
  end_if_complete(request, true);
}

void AnswerWaits::end_if_complete(uint32_t request, bool force) {
  Wait ended;
  {
    std::lock_guard lock(mutex_);
    auto found = waits_.find(request);
    if (found == waits_.end()) return;
    const Wait& wait = found->second;
    const bool complete =
        wait.expected >= 0 && static_cast<int64_t>(wait.answers.size()) >= wait.expected;
    if (!complete && !force) return;
    ended = std::move(found->second);
    waits_.erase(found);
  }
  if (ended.done) ended.done(std::move(ended.answers));
}

}  // namespace dispatch::cluster
