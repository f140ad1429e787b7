#include "scenario/scenario_session.h"

#include <sys/uio.h>

#include "delivery/loop_delivery.h"
#include "frames/server_frames.h"
#include "pipeline/compiled_config.h"
#include "pipeline/router.h"
#include "protocol/frame_reader.h"
#include "protocol/websocket.h"
#include "server/engine.h"
#include "server/event_loop.h"

namespace dispatch::scenario {

namespace {
// As server/connection.cpp: messages that may wait behind a pending one.
constexpr size_t max_queued_messages = 64;
}  // namespace

ScenarioSession::ScenarioSession(EventLoop& loop)
    : Session(loop.sessions(), loop.engine().next_connection_number()), loop_(loop) {}

ScenarioSession::~ScenarioSession() {
  end();
}

void ScenarioSession::open(AcceptedIdentity accepted) {
  set_identity(std::move(accepted.identity));
  set_token_expiry(accepted.expires_at);
  state_ = State::open;
  if (accepted.expires_at) {
    token_deadline_ =
        token_deadline(clock(), *accepted.expires_at, loop_.config().config().auth.jwt.leeway);
  }
  loop_.delivery().add_user_session(*this);
  send(build_event_frame("welcome", welcome_payload(*this)));
  loop_.hooks().opened(*this);
  reschedule();
}

bool ScenarioSession::receive(std::string_view text) {
  if (state_ != State::open) return true;
  std::string copy(text);
  copy.reserve(copy.size() + ws::message_padding);
  if (pending())
    return router::queue_while_pending(*this, copy.data(), copy.size(), max_queued_messages);
  router::handle_message(loop_, *this, ws::MessageKind::text, copy.data(), copy.size());
  return true;
}

std::vector<std::string> ScenarioSession::take_texts() {
  std::vector<std::string> texts;
  iovec vectors[64];
  while (!queue_.empty()) {
    const int count = queue_.gather(vectors, 64);
    size_t bytes = 0;
    for (int i = 0; i < count; ++i) {
      const auto* frame = static_cast<const uint8_t*>(vectors[i].iov_base);
      const size_t size = vectors[i].iov_len;
      bytes += size;
      size_t header = 2;
      if ((frame[1] & 0x7F) == 126) header = 4;
      if ((frame[1] & 0x7F) == 127) header = 10;
      if ((frame[0] & 0x0F) == 0x1) {
        texts.emplace_back(reinterpret_cast<const char*>(frame) + header, size - header);
      }
    }
    queue_.consume(bytes);
    context().account_queued(-static_cast<int64_t>(bytes));
  }
  flush_requested_ = false;
  return texts;
}

void ScenarioSession::close(uint16_t code, std::string_view reason) {
  if (state_ == State::closed || state_ == State::closing) return;
  close_code_ = code;
  close_reason_ = std::string(reason);
  // What was queued before the close still reaches the client (a connection writes it before
  // its close frame), except when the close is the slow-consumer policy, which drops it: the
  // queue has then been dropped already.
  end_registration();
  state_ = State::closing;
}

void ScenarioSession::watch_step_deadline() {
  reschedule();
}

void ScenarioSession::continue_after_pending() {
  router::run_queued(loop_, *this);
}

void ScenarioSession::on_timer(SteadyTime now) {
  if (state_ != State::open) return;
  if (pending() && pending()->in_flight && now >= pending()->deadline) {
    router::time_out_pending(loop_, *this);
    if (state_ != State::open) return;
  }
  if (now >= token_deadline_) {
    close(ws::close_code::token_refused, "token expired");
    return;
  }
  reschedule();
}

void ScenarioSession::token_expiry_changed() {
  const std::optional<int64_t> expires_at = token_expires_at();
  token_deadline_ =
      expires_at ? token_deadline(clock(), *expires_at, loop_.config().config().auth.jwt.leeway)
                 : SteadyTime::max();
  reschedule();
}

void ScenarioSession::reschedule() {
  if (state_ != State::open) {
    TimerWheel::cancel(*this);
    return;
  }
  SteadyTime next = token_deadline_;
  if (pending() && pending()->in_flight) next = std::min(next, pending()->deadline);
  if (next == SteadyTime::max()) {
    TimerWheel::cancel(*this);
    return;
  }
  loop_.wheel().schedule(*this, next);
}

void ScenarioSession::end_registration() {
  TimerWheel::cancel(*this);
  if (state_ != State::open) return;
  loop_.hooks().closing(*this);  // before it leaves its rooms
  loop_.delivery().rooms().leave_all(*this);
  loop_.delivery().remove_user_session(*this);
  loop_.delivery().directory().remove_connection(user_id(), number());
  loop_.engine().open_connections().fetch_sub(1);
}

void ScenarioSession::end() {
  if (pending() && pending()->in_flight) loop_.remove_pending_step(pending()->ticket);
  end_registration();
  state_ = State::closed;
  drop_queue();
}

}  // namespace dispatch::scenario
