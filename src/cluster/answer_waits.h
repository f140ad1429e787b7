// Requests a node sends to the other nodes and whose answers it waits for: a `_join` of a user
// with sessions elsewhere (each of those nodes answers once it receives the room's traffic) and
// `GET /api/rooms/{id}` (each node with members answers with them). The request goes out with a
// number; PUBLISH's count of receiving nodes says how many answers to expect; each answer comes on
// the node's own channel with that number. `done` gets the answers once all are in, or whatever
// came when the caller finishes the wait (a deadline, or the request could not be sent).
// Thread-safe: PUBLISH replies, answers and deadlines arrive on different loops. Rare: a lock.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace dispatch::cluster {

class AnswerWaits {
 public:
  using Done = std::function<void(std::vector<std::string> answers)>;

  // A new wait; its number (never 0) goes into the request.
  uint32_t start(Done done);
  // PUBLISH has told how many nodes received the request (those that will answer).
  void expect(uint32_t request, int64_t answers);
  void answer(uint32_t request, std::string body);
  // Ends the wait now with what has come (nothing when it ended already).
  void finish(uint32_t request);

 private:
  struct Wait {
    int64_t expected = -1;  // unknown until PUBLISH has answered
    std::vector<std::string> answers;
    Done done;
  };
  // Takes the wait out when it is complete (or `force`), for its `done` to run outside the lock.
  void end_if_complete(uint32_t request, bool force);

  std::mutex mutex_;
  uint32_t next_ = 1;
  std::unordered_map<uint32_t, Wait> waits_;
};

}  // namespace dispatch::cluster
