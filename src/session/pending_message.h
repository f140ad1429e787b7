// A session's message whose step is pending (StepStatus::pending), and the messages that arrived
// behind it. The pipeline (pipeline/router.cpp) fills and finishes it; the session only holds it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace dispatch {

class CompiledConfig;

struct PendingMessage {
  bool in_flight = false;                        // a step of `raw` is pending
  uint64_t ticket = 0;                           // matches the Completion that may finish it
  std::shared_ptr<const CompiledConfig> config;  // the config the message started with
  std::string raw;                               // the message (with padding)
  size_t next_step = 0;
  bool token_hidden = false;
  // What the ack will say of history rooms joined by the steps before (MessageRun::AckNotes).
  std::string ack_notes;
  std::chrono::steady_clock::time_point deadline{};  // of the in-flight step (step_timeout)
  std::chrono::milliseconds timeout{};               // the step_timeout that set it
  std::deque<std::string> waiting;                   // messages that arrived meanwhile, in order
};

}  // namespace dispatch
