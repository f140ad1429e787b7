// The router: one complete client message → its event's compiled pipeline. Steps run in order
// on the session's loop; the first failure stops the rest and is answered with an error
// frame; success is answered with an `ack` when the message had an id. A step may finish later
// (StepStatus::pending): the message then waits in the session's PendingMessage, later
// messages queue behind it, and it resumes on the loop when its Completion fires — or is
// answered with `internal` once server.step_timeout has passed, and the completion that comes
// later is ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "dispatch/error_code.h"
#include "dispatch/extension.h"

namespace dispatch {

class Session;
class SessionLoop;

namespace ws {
enum class MessageKind;
}

namespace router {

void handle_message(SessionLoop& loop, Session& session, ws::MessageKind kind, const char* data,
                    size_t length);
// Queues a copy behind the pending message; false when the queue is full (stop reading).
bool queue_while_pending(Session& session, const char* data, size_t length, size_t limit);
// Runs queued messages until one goes pending or none is left.
void run_queued(SessionLoop& loop, Session& session);
// On the loop, when a pending step's Completion fired: a no-op unless the ticket is still in
// flight on this loop (its connection may be gone, or the step timed out).
void finish_pending(SessionLoop& loop, uint64_t ticket, bool ok, ErrorCode code,
                    std::string message, std::function<StepStatus(StepContext&)> then);
// The in-flight step's deadline has passed: answers `internal` and goes on with the next
// queued messages.
void time_out_pending(SessionLoop& loop, Session& session);

}  // namespace router
}  // namespace dispatch
