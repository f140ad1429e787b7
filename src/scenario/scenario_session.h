// A `dispatch test` client: a Session of a loop that has no socket. It is admitted like a real
// connection (server/admission.h), its messages go through the same router, and the frames the
// engine sends it stay in its queue until the runner reads them. Like a Connection it sits in
// its loop's timer wheel for the deadlines that are the engine's, not the transport's: token
// expiry (closed with 4401) and a pending step's server.step_timeout. Ping, pong, read and
// handshake timeouts belong to the socket and are not simulated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/admission.h"
#include "session/session.h"
#include "transport/timer_wheel.h"

namespace dispatch {
class EventLoop;
}

namespace dispatch::scenario {

class ScenarioSession final : public Session, public TimerEntry {
 public:
  explicit ScenarioSession(EventLoop& loop);
  ~ScenarioSession() override;

  // After admit_session() accepted it: takes its identity, joins the loop's user table, queues
  // `welcome` (as Connection::accept does).
  void open(AcceptedIdentity accepted);

  // One client message, as a text frame from a socket would bring it. False when 64 messages
  // already wait behind a pending step (a connection would stop reading).
  bool receive(std::string_view text);

  // The payloads of the text frames queued since the last call, oldest first.
  std::vector<std::string> take_texts();

  std::optional<uint16_t> close_code() const { return close_code_; }
  const std::string& close_reason() const { return close_reason_; }

  void close(uint16_t code, std::string_view reason) override;
  void watch_step_deadline() override;
  void continue_after_pending() override;
  void on_timer(SteadyTime now) override;
  void token_expiry_changed() override;

 private:
  void request_flush() override {}
  void flush_now() override {}
  void reschedule();
  // Leaves rooms, the user table, the directory and the open-connection count (once).
  void end_registration();
  void end();

  EventLoop& loop_;
  SteadyTime token_deadline_ = SteadyTime::max();
  std::optional<uint16_t> close_code_;
  std::string close_reason_;
};

}  // namespace dispatch::scenario
