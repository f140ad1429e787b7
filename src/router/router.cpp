#include "router/router.h"

#include <fmt/format.h>

#include "core/server_frames.h"
#include "protocol/frame_reader.h"
#include "protocol/websocket.h"
#include "router/compiled_config.h"
#include "router/incoming_message.h"
#include "router/message_run.h"
#include "server/event_loop.h"
#include "transport/connection.h"

namespace dispatch::router {

namespace {

// An error found before any step ran (parsing, unknown event).
void answer_early(Connection& connection, const IncomingMessage& message, ErrorCode code,
                  std::string_view text) {
  connection.send_error(code, build_error_frame(code, text, message.ref_json, message.event));
}

std::string padded_copy(const char* data, size_t length) {
  std::string copy;
  copy.reserve(length + ws::message_padding);
  copy.assign(data, length);
  return copy;
}

void note_pending(Connection& connection, const MessageRun& run,
                  std::shared_ptr<const CompiledConfig> config, const char* data, size_t length,
                  bool data_is_pending_raw) {
  if (!connection.pending()) connection.set_pending(std::make_unique<PendingMessage>());
  PendingMessage& pending = *connection.pending();
  pending.in_flight = true;
  pending.ticket = run.ticket();
  pending.config = std::move(config);
  if (!data_is_pending_raw) pending.raw = padded_copy(data, length);
  pending.next_step = run.pending_step() + 1;
  pending.token_hidden = run.token_hidden();
}

// Parses and runs one message with the loop's current config.
void process(Connection& connection, const char* data, size_t length, bool data_is_pending_raw) {
  EventLoop& loop = connection.loop();
  IncomingMessage message;
  if (auto failure = parse_incoming(loop.json_parser(), data, length, message)) {
    answer_early(connection, message, failure->code, failure->message);
    return;
  }
  const Pipeline* pipeline = loop.config().find_event(*message.event);
  if (!pipeline) {
    answer_early(connection, message, ErrorCode::unknown_event,
                 fmt::format("unknown event `{}`", *message.event));
    return;
  }
  if (pipeline->needs_target && (!message.target || message.target->empty())) {
    answer_early(connection, message, ErrorCode::bad_message,
                 message.target
                     ? fmt::format("`target` must not be empty for the event `{}`", *message.event)
                     : fmt::format("`target` is required by the event `{}`", *message.event));
    return;
  }
  loop.count_event_message(pipeline->index);
  MessageRun run(connection, *pipeline, message, false);
  if (run.run_from(0) == MessageRun::Outcome::pending) {
    note_pending(connection, run, loop.config_ptr(), data, length, data_is_pending_raw);
  }
}

}  // namespace

void handle_message(Connection& connection, ws::MessageKind, const char* data, size_t length) {
  process(connection, data, length, false);
}

bool queue_while_pending(Connection& connection, const char* data, size_t length, size_t limit) {
  PendingMessage& pending = *connection.pending();
  pending.waiting.push_back(padded_copy(data, length));
  return pending.waiting.size() < limit;
}

void run_queued(Connection& connection) {
  while (PendingMessage* pending = connection.pending()) {
    if (pending->in_flight) return;
    if (!connection.is_open() || pending->waiting.empty()) {
      connection.take_pending();
      return;
    }
    pending->raw = std::move(pending->waiting.front());
    pending->waiting.pop_front();
    process(connection, pending->raw.data(), pending->raw.size(), true);
  }
}

void finish_pending(Connection& connection, uint64_t ticket, bool ok, ErrorCode code,
                    std::string text, std::function<StepStatus(StepContext&)> then) {
  PendingMessage* pending = connection.pending();
  if (!pending || !pending->in_flight || pending->ticket != ticket) return;
  pending->in_flight = false;
  if (!connection.is_open()) {
    connection.take_pending();
    return;
  }
  // The message is parsed again from its copy: the loop's parser has moved on since.
  IncomingMessage message;
  const Pipeline* pipeline = nullptr;
  if (!parse_incoming(connection.loop().json_parser(), pending->raw.data(), pending->raw.size(),
                      message)) {
    pipeline = pending->config->find_event(*message.event);
  }
  if (pipeline) {
    MessageRun run(connection, *pipeline, message, pending->token_hidden);
    if (!ok) {
      run.answer_failure(code, std::move(text));
    } else if (run.continue_with(then, pending->next_step) == MessageRun::Outcome::pending) {
      note_pending(connection, run, pending->config, nullptr, 0, true);
      return;
    }
  }
  connection.continue_after_pending();
}

}  // namespace dispatch::router
