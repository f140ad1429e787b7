#include "pipeline/message_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <mutex>

#include "config/cidr.h"
#include "config/room_policy.h"
#include "delivery/fanout.h"
#include "delivery/loop_delivery.h"
#include "log/log.h"
#include "pipeline/compiled_config.h"
#include "pipeline/loop_mailbox.h"
#include "pipeline/room_join.h"
#include "pipeline/room_publish.h"
#include "pipeline/router.h"
#include "pipeline/session_loop.h"
#include "pipeline/step_payload.h"
#include "protocol/websocket.h"
#include "session/session.h"
#include "template/json_escape.h"

namespace dispatch {

namespace {
std::atomic<uint64_t> next_ticket{1};
}

// Counted holds: one for the run until it starts waiting, one per callback handed out. Callbacks
// may run on any thread, before or after the run starts waiting; the completion is set before the
// run lets go of its hold, so whichever release is last finds it.
// A history room joined in cluster mode adds what the ack will say of it (notes, written on the
// run's loop before that hold is released); the continuation hands them to the run that goes on.
struct MessageRun::ReachWait : std::enable_shared_from_this<ReachWait> {
  std::atomic<size_t> holds{1};
  Completion completion;
  std::mutex mutex;
  std::vector<std::pair<std::string, HistoryJoinRequest>> notes;

  void release() {
    if (holds.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    bool has_notes = false;
    {
      std::lock_guard lock(mutex);
      has_notes = !notes.empty();
    }
    if (!has_notes) {
      completion.done();
      return;
    }
    completion.done([wait = shared_from_this()](StepContext& ctx) {
      auto& run = static_cast<MessageRun&>(ctx);  // the continuation of its own run
      std::lock_guard lock(wait->mutex);
      for (const auto& [room, history] : wait->notes) run.note_history_join(room, history);
      return StepStatus::done;
    });
  }
};

MessageRun::MessageRun(SessionLoop& loop, Session& session, const Pipeline& pipeline,
                       IncomingMessage& message, bool token_hidden)
    : loop_(loop),
      session_(session),
      pipeline_(pipeline),
      message_(message),
      token_hidden_(token_hidden) {}

MessageRun::Outcome MessageRun::run_from(size_t first) {
  for (size_t i = first; i < pipeline_.steps.size(); ++i) {
    StepStatus status = pipeline_.steps[i]->run(*this);
    if (status == StepStatus::done && !failure_) {  // a recorded failure fails the step
      if (deferred_join_) {
        ask_room_admission();
        pending_step_ = i;
        return Outcome::pending;
      }
      if (!reach_wait_) continue;
      wait_until_reachable();
      pending_step_ = i;
      return Outcome::pending;
    }
    if (status == StepStatus::pending) {
      pending_step_ = i;
      return Outcome::pending;
    }
    if (!failure_) {
      failure_ = ErrorCode::internal;
      failure_message_ = fmt::format("step `{}` failed", pipeline_.step_names[i]);
    }
    answer(*failure_, failure_message_);
    return Outcome::finished;
  }
  count_outcome(std::nullopt);
  if (!message_.ref_json.empty()) session_.send(build_ack_frame(message_.ref_json, ack_extra()));
  return Outcome::finished;
}

MessageRun::Outcome MessageRun::continue_with(const Completion::Continuation& then,
                                              size_t next_step) {
  if (then) {
    StepStatus status = then(*this);
    if (status != StepStatus::done || failure_) {
      if (!failure_) {
        failure_ = ErrorCode::internal;
        failure_message_ = "a step's continuation did not finish";
      }
      answer(*failure_, failure_message_);
      return Outcome::finished;
    }
    if (reach_wait_) {  // the continuation joined (a deferred _join): wait as after a step
      wait_until_reachable();
      pending_step_ = next_step - 1;
      return Outcome::pending;
    }
  }
  return run_from(next_step);
}

void MessageRun::answer_failure(ErrorCode code, std::string message) {
  failure_ = code;
  answer(code, message);
}

void MessageRun::count_outcome(std::optional<ErrorCode> failure) {
  if (outcome_counted_) session_.context().metrics().events.count(pipeline_.index, failure);
}

void MessageRun::answer(ErrorCode code, std::string_view message) {
  count_outcome(code);
  ErrorDetails details;
  details.field = missing_field_;
  details.retry_after_ms = code == ErrorCode::rate_limited ? retry_after_ms_ : -1;
  session_.send_error(code,
                      build_error_frame(code, message, message_.ref_json, message_.event, details));
}

// A history room the sender joined: "recovered" when it asked with `since`, else "positions"
// (where it starts), for the ack.
void MessageRun::note_history_join(std::string_view room, const HistoryJoinRequest& history) {
  std::string& list = history.since ? recovered_json_ : positions_json_;
  list.push_back(list.empty() ? '{' : ',');
  list.push_back('"');
  tmpl::append_json_escaped(list, room);
  list += "\":{";
  if (history.since) list += history.outcome.ok ? "\"ok\":true," : "\"ok\":false,";
  list += fmt::format("\"offset\":{},\"epoch\":\"", history.outcome.position.offset);
  tmpl::append_json_escaped(list, history.outcome.position.epoch);
  list += "\"}";
}

// Both lists in one string: recovered, a NUL, positions (room ids and epochs hold no NUL: JSON
// escapes it).
std::string MessageRun::ack_notes() const {
  if (recovered_json_.empty() && positions_json_.empty()) return {};
  return recovered_json_ + '\0' + positions_json_;
}

void MessageRun::restore_ack_notes(std::string_view notes) {
  const size_t split = notes.find('\0');
  if (split == std::string_view::npos) return;
  recovered_json_ = notes.substr(0, split);
  positions_json_ = notes.substr(split + 1);
}

std::string MessageRun::ack_extra() const {
  std::string extra;
  if (!recovered_json_.empty()) extra += ",\"recovered\":" + recovered_json_ + '}';
  if (!positions_json_.empty()) extra += ",\"positions\":" + positions_json_ + '}';
  return extra;
}

// ---------------------------------------------------------------- who and what

std::string_view MessageRun::user_id() const {
  return session_.user_id();
}

std::string_view MessageRun::connection_id() const {
  if (connection_id_.empty()) connection_id_ = session_.id();
  return connection_id_;
}

std::string_view MessageRun::client_ip() const {
  if (client_ip_.empty()) client_ip_ = config::ip_text(session_.client_ip());
  return client_ip_;
}

const std::vector<std::string>& MessageRun::token_permissions() const {
  return session_.permissions();
}

bool MessageRun::is_member(std::string_view room) const {
  return session_.is_member(room);
}

std::chrono::steady_clock::time_point MessageRun::now() const {
  return session_.clock().now();
}

int64_t MessageRun::unix_seconds() const {
  return session_.clock().unix_seconds();
}

boost::asio::any_io_executor MessageRun::executor() const {
  return loop_.executor();
}

// ---------------------------------------------------------------- templates

bool MessageRun::fill(const Param& param, std::string& out) {
  std::string missing;
  if (static_cast<const tmpl::Template&>(param).fill(*this, out, &missing)) return true;
  failure_ = ErrorCode::missing_field;
  failure_message_ = fmt::format("the message has no value for `{}`", missing);
  missing_field_ = missing;
  return false;
}

std::string_view MessageRun::keep(std::string text) {
  values_.push_back(std::move(text));
  return values_.back();
}

bool MessageRun::resolve(const tmpl::Placeholder& placeholder, tmpl::ResolvedValue& out) {
  using tmpl::Source;
  switch (placeholder.source) {
    case Source::user_id:
      out = {true, session_.user_id()};
      return true;
    case Source::conn_id:
      out = {true, connection_id()};
      return true;
    case Source::target_id:
      if (!message_.target) return false;
      out = {true, *message_.target};
      return true;
    case Source::event_name:
      out = {true, *message_.event};
      return true;
    case Source::room_id:
      return false;
    case Source::claim: {
      const auto* claim = session_.claim(placeholder.claim);
      if (!claim) return false;
      out = {claim->is_string, claim->text};
      return true;
    }
    case Source::payload:
      break;
  }
  if (!message_.payload) return false;
  simdjson::dom::element value = *message_.payload;
  simdjson::dom::object object;
  if (placeholder.path.empty() && token_hidden_ && !value.get_object().get(object)) {
    // The whole payload without its event token.
    std::string text = "{";
    for (auto field : object) {
      if (field.key == "token") continue;
      if (text.size() > 1) text.push_back(',');
      text.push_back('"');
      tmpl::append_json_escaped(text, field.key);
      text += "\":";
      text += simdjson::minify(field.value);
    }
    text.push_back('}');
    out = {false, keep(std::move(text))};
    return true;
  }
  for (size_t i = 0; i < placeholder.path.size(); ++i) {
    const std::string& segment = placeholder.path[i];
    if (i == 0 && token_hidden_ && segment == "token") return false;
    simdjson::dom::array array;
    if (!value.get_object().get(object)) {
      if (object.at_key(segment).get(value)) return false;
    } else if (!value.get_array().get(array)) {
      size_t index = 0;
      auto [end, error] = std::from_chars(segment.data(), segment.data() + segment.size(), index);
      if (error != std::errc() || end != segment.data() + segment.size()) return false;
      if (array.at(index).get(value)) return false;
    } else {
      return false;
    }
  }
  std::string_view text;
  if (value.get_string().get(text) == simdjson::SUCCESS) {
    out = {true, text};
  } else {
    out = {false, keep(simdjson::minify(value))};
  }
  return true;
}

std::optional<std::string_view> MessageRun::payload_token() const {
  simdjson::dom::object object;
  if (!message_.payload || message_.payload->get_object().get(object)) return std::nullopt;
  std::string_view token;
  if (object.at_key("token").get_string().get(token)) return std::nullopt;
  return token;
}

// ---------------------------------------------------------------- effects

void MessageRun::reply(std::string_view event, std::string_view payload_json) {
  if (!accept_step_payload(*this, payload_json)) return;
  FrameOrigin origin;
  origin.ref_json = message_.ref_json;
  session_.send(build_event_frame(event, payload_json, origin));
}

void MessageRun::send_to_origin(std::string_view event, std::string_view payload_json) {
  if (!accept_step_payload(*this, payload_json)) return;
  publish_to_user(loop_.delivery(), session_.user_id(), build_event_frame(event, payload_json));
}

void MessageRun::send_to_target(std::string_view target, std::string_view event,
                                std::string_view payload_json) {
  if (!accept_step_payload(*this, payload_json)) return;
  if (!target.starts_with("user:") && !member_may_send(target)) return;
  FrameOrigin origin;
  origin.from = session_.user_id();
  if (target.starts_with("user:")) {
    publish_to_user(loop_.delivery(), target.substr(5),
                    build_event_frame(event, payload_json, origin));
    return;
  }
  const std::optional<HistoryLimits> limits = loop_.config().history_limits(target);
  if (!limits) {  // one flag test when no room keeps history
    origin.room = target;
    publish_to_room(loop_.delivery(), target, build_event_frame(event, payload_json, origin));
    return;
  }
  // Into a history room whose older messages are still on their way to this loop, or through
  // Redis: the next step and the ack wait until this loop's members have this one (the sender's
  // order). The callback may come on another thread, before or after the wait is set up.
  struct Later {
    std::mutex mutex;
    std::function<void()> release;
    bool fired = false;
  };
  auto later = std::make_shared<Later>();
  const bool delivered =
      publish_history_message(loop_, target, *limits, event, payload_json, origin, [later] {
        std::function<void()> release;
        {
          std::lock_guard lock(later->mutex);
          later->fired = true;
          release = std::move(later->release);
        }
        if (release) release();
      });
  if (delivered) return;
  std::lock_guard lock(later->mutex);
  if (!later->fired) {
    later->release = reach_callback();
    return;
  }
  // Delivered already, from another loop: what it handed this loop's members is still queued
  // here, so the step waits for a turn of this loop's queue, after it.
  loop_.mailbox()->post(reach_callback());
}

void MessageRun::send_to_user(std::string_view user, std::string_view event,
                              std::string_view payload_json) {
  if (!accept_step_payload(*this, payload_json)) return;
  FrameOrigin origin;
  origin.from = session_.user_id();
  publish_to_user(loop_.delivery(), user, build_event_frame(event, payload_json, origin));
}

void MessageRun::broadcast(std::string_view event, std::string_view payload_json) {
  if (!accept_step_payload(*this, payload_json)) return;
  FrameOrigin origin;
  origin.from = session_.user_id();
  publish_to_all(loop_.delivery(), build_event_frame(event, payload_json, origin));
}

// A room under a member_only_send policy takes `_notify_room` only from its members. Free when
// the config has no room policies, and for a sender that is a member (no glob is matched then).
bool MessageRun::member_may_send(std::string_view room) {
  const auto& policies = loop_.config().config().rooms;
  if (policies.empty() || session_.is_member(room)) return true;
  const config::RoomPolicy* policy = config::find_room_policy(policies, room);
  if (!policy || !policy->member_only_send) return true;
  fail(ErrorCode::forbidden,
       fmt::format("only members of room {} may send to it (its policy `{}` has member_only_send)",
                   room, policy->glob));
  return false;
}

// Room policies apply to every `_join` (pipeline/room_join.h); join_permission is asked of the
// SENDER, also when it joins another user.
bool MessageRun::join(std::string_view user, std::string_view room, bool this_connection_only) {
  Broker* broker = loop_.delivery().broker();
  if (!broker) {
    HistoryJoinRequest history;
    if (auto since = since_for(message_, room); since && since->last > 0) {
      history.last = since->last;
    } else if (since) {
      history.since = HistoryPosition{since->offset, std::string(since->epoch)};
    }
    if (auto refusal = join_room(loop_, session_, user, room, this_connection_only, {}, &history)) {
      fail(refusal->code, std::move(refusal->message));
      return false;
    }
    if (history.applied) note_history_join(room, history);
    return true;
  }
  const config::Config& config = loop_.config().config();
  const config::RoomPolicy* policy =
      config.rooms.empty() ? nullptr : config::find_room_policy(config.rooms, room);
  if (policy && policy->max_members > 0 && !deferred_join_) {
    // A room's max_members across the cluster: Redis answers first, then the join is made
    // (ask_room_admission), before the next step.
    deferred_join_ = DeferredJoin{std::string(user), std::string(room), this_connection_only,
                                  policy->max_members, policy->glob};
    return true;
  }
  return join_in_cluster(*broker, user, room, this_connection_only);
}

void MessageRun::ask_room_admission() {
  DeferredJoin join = std::move(*deferred_join_);
  deferred_join_.reset();
  auto completion = std::make_shared<Completion>(defer());
  std::string user = join.this_connection_only ? std::string(session_.user_id()) : join.user;
  std::string room = join.room;
  const uint32_t max_members = join.max_members;
  loop_.delivery().broker()->admit_room_user(
      std::move(room), std::move(user), max_members,
      [completion, join = std::move(join)](std::optional<bool> allowed) {
        completion->done([join, allowed](StepContext& ctx) {
          auto& run = static_cast<MessageRun&>(ctx);  // the continuation of its own run
          if (allowed == false) {
            return run.fail(ErrorCode::room_full,
                            fmt::format("room {} is full ({} users, its policy `{}`)", join.room,
                                        join.max_members, join.policy));
          }
          // Admitted, or Redis could not be asked (then the node's own count decides).
          Broker& broker = *run.loop_.delivery().broker();
          return run.join_in_cluster(broker, join.user, join.room, join.this_connection_only)
                     ? StepStatus::done
                     : StepStatus::failed;
        });
      });
}

void MessageRun::wait_until_reachable() {
  reach_wait_->completion = defer();
  std::shared_ptr<ReachWait> wait = std::move(reach_wait_);
  wait->release();  // the run's own hold: from here the last callback finishes the step
}

bool MessageRun::join_in_cluster(Broker& broker, std::string_view user, std::string_view room,
                                 bool this_connection_only) {
  if (auto refusal = join_room(loop_, session_, user, room, this_connection_only,
                               this_connection_only ? nullptr : reach_callback())) {
    fail(refusal->code, std::move(refusal->message));
    return false;
  }
  const bool asker_joined = this_connection_only || user == session_.user_id();
  if (const auto limits = loop_.config().history_limits(room); limits && asker_joined) {
    recover_in_cluster(broker, room, limits->ttl);
  } else if (!broker.room_reachable(room)) {
    broker.when_room_reachable(room, reach_callback());
  }
  return true;
}

// The sender joined a history room in cluster mode: once this node receives the room's traffic,
// Redis says where the room stands and, with `since`, what the sender missed (or the room's
// last messages it asked for); the room's messages for it are held meanwhile
// (LocalRooms::begin_recovery), so the replay and what follows meet exactly. The step and the
// ack wait for it.
void MessageRun::recover_in_cluster(Broker& broker, std::string_view room,
                                    std::chrono::milliseconds ttl) {
  std::optional<HistoryPosition> since;
  uint32_t last = 0;
  if (auto asked = since_for(message_, room)) {
    if (asked->last > 0) {
      last = asked->last;
    } else {
      since = HistoryPosition{asked->offset, std::string(asked->epoch)};
    }
    loop_.delivery().rooms().begin_recovery(session_, room);
  }
  std::function<void()> release = reach_callback();
  std::shared_ptr<ReachWait> wait = reach_wait_;
  auto apply = [wait, release, since, last, room = std::string(room), loop = &loop_,
                user = std::string(session_.user_id()),
                number = session_.number()](std::optional<HistoryRead> read) mutable {
    // On the run's loop (its mailbox); the session may be gone.
    Session* session = nullptr;
    for (Session* candidate : loop->delivery().user_sessions(user)) {
      if (candidate->number() == number) session = candidate;
    }
    HistoryJoinRequest history;
    history.since = since;
    history.last = last;
    history.applied = read.has_value();
    if (read) {
      history.outcome.position = read->position;
      history.outcome.ok = since && read->complete && since->epoch == read->position.epoch;
      if (since && !history.outcome.ok) read->complete = false;
    } else {
      history.outcome.ok = false;
    }
    if (session && (since || last > 0)) {
      // The last messages start where the read found them (Broker::read_last_history).
      const uint64_t from = since ? since->offset : read ? read->first_offset - 1 : 0;
      loop->delivery().rooms().finish_recovery(*session, room, read ? &*read : nullptr, from);
    }
    if (history.applied || since) {
      std::lock_guard lock(wait->mutex);
      wait->notes.emplace_back(room, std::move(history));
    }
    release();
  };
  const uint64_t from = since ? since->offset : std::numeric_limits<uint64_t>::max();
  broker.when_room_reachable(room, [&broker, room = std::string(room), from, last, ttl,
                                    mailbox = loop_.mailbox(), apply = std::move(apply)]() mutable {
    auto done = [mailbox, apply = std::move(apply)](std::optional<HistoryRead> read) {
      mailbox->post([apply, read = std::move(read)]() mutable { apply(std::move(read)); });
    };
    if (last > 0) {
      broker.read_last_history(std::move(room), last, ttl, std::move(done));
    } else {
      broker.read_history(std::move(room), from, ttl, std::move(done));
    }
  });
}

Broker* MessageRun::broker() {
  return loop_.delivery().broker();
}

RoomPresence MessageRun::node_room_presence(std::string_view room) {
  return loop_.delivery().directory().room_presence(room);
}

std::function<void()> MessageRun::reach_callback() {
  if (!reach_wait_) reach_wait_ = std::make_shared<ReachWait>();
  reach_wait_->holds.fetch_add(1, std::memory_order_relaxed);
  return [wait = reach_wait_] { wait->release(); };
}

void MessageRun::disconnect(std::string_view user, std::string_view reason) {
  disconnect_user(loop_.delivery(), user, ws::close_code::disconnected, reason);
}

void MessageRun::leave(std::string_view user, std::string_view room) {
  leave_user_from_room(loop_.delivery(), user, room);
}

void MessageRun::log_info(std::string_view text) {
  log::info(text)
      .field("event", *message_.event)
      .field("user_id", session_.user_id())
      .field("conn_id", connection_id());
}

// ---------------------------------------------------------------- outcomes

StepStatus MessageRun::fail(ErrorCode code, std::string message) {
  failure_ = code;
  failure_message_ = std::move(message);
  return StepStatus::failed;
}

StepStatus MessageRun::fail_rate_limited(int64_t retry_after_ms) {
  retry_after_ms_ = retry_after_ms;
  return fail(ErrorCode::rate_limited,
              fmt::format("rate limit exceeded: retry in {} ms", retry_after_ms));
}

// What a Completion shares with the handler it posts. It never points at the connection: the
// handler finds it on the loop by ticket (SessionLoop::pending_step_session), and reaches the
// loop only through its mailbox, which is closed before the loop is freed.
struct Completion::State {
  std::shared_ptr<LoopMailbox> mailbox;
  SessionLoop* loop;  // used only by the handler, which runs on that loop
  uint64_t ticket;
  std::atomic<bool> finished{false};
};

Completion MessageRun::defer() {
  ticket_ = next_ticket.fetch_add(1, std::memory_order_relaxed);
  auto state = std::make_shared<Completion::State>();
  state->mailbox = loop_.mailbox();
  state->loop = &loop_;
  state->ticket = ticket_;
  return Completion(std::move(state));
}

namespace {

void finish(const std::shared_ptr<Completion::State>& state, bool ok, ErrorCode code,
            std::string message, Completion::Continuation then) {
  if (!state || state->finished.exchange(true)) return;
  state->mailbox->post([loop = state->loop, ticket = state->ticket, ok, code,
                        message = std::move(message), then = std::move(then)]() mutable {
    router::finish_pending(*loop, ticket, ok, code, std::move(message), std::move(then));
  });
}

}  // namespace

Completion::~Completion() {
  if (state_ && !state_->finished.load()) {
    finish(state_, false, ErrorCode::internal, "a step did not finish", {});
  }
}

void Completion::done(Continuation then) {
  finish(state_, true, ErrorCode::internal, {}, std::move(then));
}

void Completion::fail(ErrorCode code, std::string message) {
  finish(state_, false, code, std::move(message), {});
}

}  // namespace dispatch
