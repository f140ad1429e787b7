#include "session/session.h"

#include <algorithm>

#include "protocol/websocket.h"
#include "session/session_lists.h"

namespace dispatch {

Session::~Session() = default;

std::string Session::id() const {
  return context_.node_id() + "-" + std::to_string(number_);
}

const std::vector<std::string>& Session::permissions() const {
  static const std::vector<std::string> none;
  return token_details_ ? token_details_->permissions : none;
}

const auth::ClaimValue* Session::claim(std::string_view name) const {
  if (!token_details_) return nullptr;
  for (const auth::NamedClaim& claim : token_details_->claims) {
    if (claim.name == name) return &claim.value;
  }
  return nullptr;
}

bool Session::is_member(std::string_view room) const {
  return std::any_of(rooms_.begin(), rooms_.end(),
                     [&](const LocalRoom* joined) { return joined->name == room; });
}

void Session::set_identity(Identity identity) {
  user_id_ = std::move(identity.user_id);
  client_ip_ = identity.client_ip;
  if (identity.permissions.empty() && identity.claims.empty()) return;
  token_details_ = std::make_unique<TokenDetails>();
  token_details_->permissions = std::move(identity.permissions);
  token_details_->claims = std::move(identity.claims);
}

void Session::replace_token(std::vector<std::string> permissions,
                            std::vector<auth::NamedClaim> claims,
                            std::optional<int64_t> expires_at) {
  if (permissions.empty() && claims.empty()) {
    token_details_.reset();
  } else {
    if (!token_details_) token_details_ = std::make_unique<TokenDetails>();
    token_details_->permissions = std::move(permissions);
    token_details_->claims = std::move(claims);
  }
  token_expires_at_ = expires_at;
  token_expiry_changed();
}

// ---------------------------------------------------------------- sending

bool Session::over_queue_limit(size_t adding) const {
  const uint64_t limit = context_.server().send_queue_limit;
  if (queue_.bytes() > 0 && queue_.bytes() + adding > limit) return true;
  return context_.over_process_queue_cap(adding);
}

void Session::send(const FrameRef& frame) {
  if (state_ != State::open) return;
  // Over the limit within one turn (a burst): first let the kernel take what it can. Only a
  // client that does not read (its socket is full) is a slow consumer.
  if (over_queue_limit(frame->size())) {
    flush_now();
    if (state_ != State::open) return;
    if (over_queue_limit(frame->size()) && !apply_slow_consumer_policy(frame->size())) return;
  }
  queue_.push(frame);
  ++messages_out_;
  metrics::LoopMetrics& counters = context_.metrics();
  counters.messages_out.add();
  counters.bytes_out.add(frame->size());
  context_.account_queued(static_cast<int64_t>(frame->size()));
  if (!flush_requested_) {
    flush_requested_ = true;
    request_flush();
  }
}

// The queue is over its limit (or the process over its cap): this session alone pays.
bool Session::apply_slow_consumer_policy(size_t adding) {
  switch (context_.server().slow_consumer) {
    case config::SlowConsumerPolicy::disconnect: {
      context_.account_queued(-static_cast<int64_t>(queue_.drop_all_but_partial_head()));
      context_.metrics().slow_consumer_closes.add();
      close(ws::close_code::policy, "slow consumer");
      return false;
    }
    case config::SlowConsumerPolicy::drop_newest:
      context_.metrics().queue_drops.add();
      return false;
    case config::SlowConsumerPolicy::drop_oldest: {
      const uint64_t limit = context_.server().send_queue_limit;
      const uint64_t keep = limit > adding ? limit - adding : 0;
      const size_t frames_before = queue_.frame_count();
      context_.account_queued(-static_cast<int64_t>(queue_.drop_oldest_until(keep)));
      context_.metrics().queue_drops.add(frames_before - queue_.frame_count());
      return true;
    }
  }
  return true;
}

void Session::queue_control(FrameRef frame) {
  context_.account_queued(static_cast<int64_t>(frame->size()));
  queue_.push_control(std::move(frame));
}

void Session::drop_queue() {
  context_.account_queued(-static_cast<int64_t>(queue_.bytes()));
  queue_ = SendQueue();
}

void Session::send_error(ErrorCode code, const FrameRef& frame) {
  send(frame);
  if (!counts_against_budget(code)) return;
  const auto& budget = context_.server().error_budget;
  if (!error_budget_.spend(context_.clock().now(), budget.count, budget.window)) {
    close(ws::close_code::policy, "too many errors");
  }
}

}  // namespace dispatch
