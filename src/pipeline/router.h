// The router: one complete client message → its event's compiled pipeline. Steps run in order
// on the connection's loop; the first failure stops the rest and is answered with an error
// frame; success is answered with an `ack` when the message had an id. A step may finish later
// (StepStatus::pending): the message then waits in the connection's PendingMessage, later
// messages queue behind it, and it resumes on the loop when its Completion fires — or is
// answered with `internal` once server.step_timeout has passed, and the completion that comes
// later is ignored.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <functional>

#include "dispatch/error_code.h"
#include "dispatch/extension.h"

namespace dispatch {

class Connection;
class CompiledConfig;
class EventLoop;

namespace ws {
enum class MessageKind;
}

struct PendingMessage {
  bool in_flight = false;                        // a step of `raw` is pending
  uint64_t ticket = 0;                           // matches the Completion that may finish it
  std::shared_ptr<const CompiledConfig> config;  // the config the message started with
  std::string raw;                               // the message (with padding)
  size_t next_step = 0;
  bool token_hidden = false;
  std::chrono::steady_clock::time_point deadline{};  // of the in-flight step (step_timeout)
  std::chrono::milliseconds timeout{};               // the step_timeout that set it
  std::deque<std::string> waiting;                   // messages that arrived meanwhile, in order
};

namespace router {

void handle_message(Connection& connection, ws::MessageKind kind, const char* data, size_t length);
// Queues a copy behind the pending message; false when the queue is full (stop reading).
bool queue_while_pending(Connection& connection, const char* data, size_t length, size_t limit);
// Runs queued messages until one goes pending or none is left.
void run_queued(Connection& connection);
// On the loop, when a pending step's Completion fired: a no-op unless the ticket is still in
// flight on this loop (its connection may be gone, or the step timed out).
void finish_pending(EventLoop& loop, uint64_t ticket, bool ok, ErrorCode code, std::string message,
                    std::function<StepStatus(StepContext&)> then);
// The in-flight step's deadline has passed: answers `internal` and goes on with the next
// queued messages.
void time_out_pending(Connection& connection);

}  // namespace router
}  // namespace dispatch
