// What the pipeline needs of the event loop a session lives on: the config in force, the loop's
// JSON parser, delivery (rooms, users, fan-out), the table of steps still pending, and the way
// back into the loop for a Completion. The server's EventLoop is one; `dispatch test` runs the
// same pipeline on a loop of its own, without sockets.
#pragma once

#include <simdjson.h>
#include <boost/asio/any_io_executor.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "clock/clock.h"

namespace dispatch {

class CompiledConfig;
class LoopDelivery;
class LoopMailbox;
class Session;

class SessionLoop {
 public:
  virtual const CompiledConfig& config() const = 0;
  virtual const std::shared_ptr<const CompiledConfig>& config_ptr() const = 0;
  virtual simdjson::dom::parser& json_parser() = 0;
  virtual LoopDelivery& delivery() = 0;
  // The loop's clock (`dispatch test` moves it by hand).
  virtual const Clock& clock() const = 0;
  // Counts a message of the event at Pipeline::index (a reload reads which events are in use).
  virtual void count_event_message(size_t pipeline_index) = 0;

  // --- steps that finish later. A Completion reaches its session only through this table of
  // in-flight tickets, never through a pointer of its own: once the session is gone (or the step
  // timed out) the ticket is absent and the completion a no-op.
  virtual const std::shared_ptr<LoopMailbox>& mailbox() const = 0;
  virtual boost::asio::any_io_executor executor() = 0;
  virtual void add_pending_step(uint64_t ticket, Session& session) = 0;
  virtual void remove_pending_step(uint64_t ticket) = 0;
  virtual Session* pending_step_session(uint64_t ticket) const = 0;

 protected:
  ~SessionLoop() = default;
};

}  // namespace dispatch
