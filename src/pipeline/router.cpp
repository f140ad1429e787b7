#include "pipeline/router.h"

#include <fmt/format.h>
#include <simdjson.h>

#include "config/config.h"
#include "frames/out_frame.h"
#include "frames/server_frames.h"
#include "pipeline/compiled_config.h"
#include "pipeline/incoming_message.h"
#include "pipeline/message_run.h"
#include "pipeline/session_loop.h"
#include "pipeline/token_refresh.h"
#include "protocol/frame_reader.h"
#include "protocol/websocket.h"
#include "session/session.h"

namespace dispatch::router {

namespace {

// An error found before any step ran (parsing, unknown event).
void answer_early(Session& session, const IncomingMessage& message, ErrorCode code,
                  std::string_view text, const ErrorDetails& details = {}) {
  session.send_error(code, build_error_frame(code, text, message.ref_json, message.event, details));
}

// Messages are parsed in place: simdjson reads up to SIMDJSON_PADDING bytes past the end.
static_assert(ws::message_padding >= simdjson::SIMDJSON_PADDING,
              "ws::message_padding must cover simdjson's read-ahead");

// A frame built from a message (its payload expanded into templates, plus a frame header) stays
// far below the 32-bit size of an outgoing frame.
static_assert(config::max_message_size_cap * 16 < OutFrame::max_size,
              "server.max_message_size's cap leaves no headroom below OutFrame::max_size");

std::string padded_copy(const char* data, size_t length) {
  std::string copy;
  copy.reserve(length + ws::message_padding);
  copy.assign(data, length);
  return copy;
}

void note_pending(SessionLoop& loop, Session& session, const MessageRun& run,
                  std::shared_ptr<const CompiledConfig> config, const char* data, size_t length,
                  bool data_is_pending_raw) {
  if (!session.pending()) session.set_pending(std::make_unique<PendingMessage>());
  PendingMessage& pending = *session.pending();
  pending.in_flight = true;
  pending.ticket = run.ticket();
  pending.config = std::move(config);
  if (!data_is_pending_raw) pending.raw = padded_copy(data, length);
  pending.next_step = run.pending_step() + 1;
  pending.token_hidden = run.token_hidden();
  pending.ack_notes = run.ack_notes();
  pending.timeout = loop.config().config().server.step_timeout;
  pending.deadline = session.clock().now() + pending.timeout;
  loop.add_pending_step(pending.ticket, session);
  session.watch_step_deadline();
}

// "30s", "1m", "250ms": as the duration would be written in config.yaml.
std::string duration_text(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms > 0 && ms % 60000 == 0) return fmt::format("{}m", ms / 60000);
  if (ms > 0 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

// The pending message parsed again from its copy (the loop's parser has moved on since), for a
// fresh MessageRun; null when it no longer parses or its event is gone.
const Pipeline* reparse(SessionLoop& loop, PendingMessage& pending, IncomingMessage& message) {
  if (parse_incoming(loop.json_parser(), pending.raw.data(), pending.raw.size(), message)) {
    return nullptr;
  }
  return pending.config->find_event(*message.event);
}

// Parses and runs one message with the loop's current config.
void process(SessionLoop& loop, Session& session, const char* data, size_t length,
             bool data_is_pending_raw) {
  metrics::LoopMetrics& counters = session.context().metrics();
  const metrics::SampledTimer timer(counters.message_sample_countdown, counters.message_duration);
  IncomingMessage message;
  if (auto failure = parse_incoming(loop.json_parser(), data, length, message)) {
    counters.messages_refused[static_cast<size_t>(failure->code)].add();
    answer_early(session, message, failure->code, failure->message);
    return;
  }
  const Pipeline* pipeline = loop.config().find_event(*message.event);
  if (!pipeline && *message.event == refresh_event) {
    refresh_token(loop, session, message);
    return;
  }
  if (!pipeline) {
    counters.messages_refused[static_cast<size_t>(ErrorCode::unknown_event)].add();
    answer_early(session, message, ErrorCode::unknown_event,
                 fmt::format("unknown event `{}`", *message.event));
    return;
  }
  if (pipeline->needs_target && (!message.target || message.target->empty())) {
    counters.events.count(pipeline->index, ErrorCode::bad_message);
    answer_early(session, message, ErrorCode::bad_message,
                 message.target
                     ? fmt::format("`target` must not be empty for the event `{}`", *message.event)
                     : fmt::format("`target` is required by the event `{}`", *message.event));
    return;
  }
  if (auto violation = pipeline->check_payload(message)) {
    ErrorDetails details;
    details.path = violation->path;
    details.rule = violation->rule;
    counters.events.count(pipeline->index, ErrorCode::invalid_payload);
    answer_early(session, message, ErrorCode::invalid_payload, violation->message, details);
    return;
  }
  loop.count_event_message(pipeline->index);
  MessageRun run(loop, session, *pipeline, message, false);
  if (run.run_from(0) == MessageRun::Outcome::pending) {
    note_pending(loop, session, run, loop.config_ptr(), data, length, data_is_pending_raw);
  }
}

}  // namespace

void handle_message(SessionLoop& loop, Session& session, ws::MessageKind, const char* data,
                    size_t length) {
  process(loop, session, data, length, false);
}

bool queue_while_pending(Session& session, const char* data, size_t length, size_t limit) {
  PendingMessage& pending = *session.pending();
  pending.waiting.push_back(padded_copy(data, length));
  return pending.waiting.size() < limit;
}

void run_queued(SessionLoop& loop, Session& session) {
  while (PendingMessage* pending = session.pending()) {
    if (pending->in_flight) return;
    if (!session.is_open() || pending->waiting.empty()) {
      session.take_pending();
      return;
    }
    pending->raw = std::move(pending->waiting.front());
    pending->waiting.pop_front();
    process(loop, session, pending->raw.data(), pending->raw.size(), true);
  }
}

void finish_pending(SessionLoop& loop, uint64_t ticket, bool ok, ErrorCode code, std::string text,
                    std::function<StepStatus(StepContext&)> then) {
  Session* session = loop.pending_step_session(ticket);
  if (!session) return;  // closed and freed, timed out, or finished already
  loop.remove_pending_step(ticket);
  PendingMessage* pending = session->pending();
  if (!pending || !pending->in_flight || pending->ticket != ticket) return;
  pending->in_flight = false;
  if (!session->is_open()) {
    session->take_pending();
    return;
  }
  IncomingMessage message;
  if (const Pipeline* pipeline = reparse(loop, *pending, message)) {
    MessageRun run(loop, *session, *pipeline, message, pending->token_hidden);
    run.restore_ack_notes(pending->ack_notes);
    if (pending->config != loop.config_ptr()) run.leave_outcome_uncounted();
    if (!ok) {
      run.answer_failure(code, std::move(text));
    } else if (run.continue_with(then, pending->next_step) == MessageRun::Outcome::pending) {
      note_pending(loop, *session, run, pending->config, nullptr, 0, true);
      return;
    }
  }
  session->continue_after_pending();
}

void time_out_pending(SessionLoop& loop, Session& session) {
  PendingMessage* pending = session.pending();
  if (!pending || !pending->in_flight) return;
  pending->in_flight = false;
  loop.remove_pending_step(pending->ticket);  // its completion is ignored from now
  IncomingMessage message;
  if (const Pipeline* pipeline = reparse(loop, *pending, message)) {
    const size_t step = pending->next_step - 1;
    MessageRun run(loop, session, *pipeline, message, pending->token_hidden);
    if (pending->config != loop.config_ptr()) run.leave_outcome_uncounted();
    run.answer_failure(ErrorCode::internal,
                       fmt::format("step `{}` did not finish within server.step_timeout ({})",
                                   pipeline->step_names[step], duration_text(pending->timeout)));
  }
  session.continue_after_pending();
}

}  // namespace dispatch::router
