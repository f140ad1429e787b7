// One message going through its event's steps: the StepContext every step sees, and the
// TemplateScope its templates are filled from (user, connection, target, claims, payload).
// It sees the client only as a Session and its loop only as a SessionLoop: no socket.
#pragma once

#include <simdjson.h>

#include <deque>
#include <optional>
#include <string>

#include "dispatch/extension.h"
#include "frames/server_frames.h"
#include "pipeline/incoming_message.h"
#include "steps/node_step_context.h"
#include "template/template.h"

namespace dispatch {

class Session;
class SessionLoop;
struct Pipeline;

class MessageRun final : public StepContext, public NodeStepContext, public tmpl::TemplateScope {
 public:
  MessageRun(SessionLoop& loop, Session& session, const Pipeline& pipeline,
             IncomingMessage& message, bool token_hidden);

  enum class Outcome { finished, pending };
  // Runs steps from `first`; answers the client (error or ack) unless a step is pending.
  Outcome run_from(size_t first);
  // A pending step finished: runs its continuation (if any), then the steps from `next_step`.
  Outcome continue_with(const Completion::Continuation& then, size_t next_step);
  // A pending step finished with a failure: answer it.
  void answer_failure(ErrorCode code, std::string message);
  size_t pending_step() const { return pending_step_; }
  bool token_hidden() const { return token_hidden_; }
  // What the ack will say of history rooms the steps so far joined: kept across a pending step
  // (PendingMessage::ack_notes) by the router.
  std::string ack_notes() const;
  void restore_ack_notes(std::string_view notes);
  uint64_t ticket() const { return ticket_; }
  // A message that began under a config since replaced by a reload: its outcome is not counted
  // per event (the loop's per-event table follows the config in force).
  void leave_outcome_uncounted() { outcome_counted_ = false; }

  // --- StepContext
  std::string_view user_id() const override;
  std::string_view connection_id() const override;
  std::string_view client_ip() const override;
  std::string_view event_name() const override { return *message_.event; }
  std::optional<std::string_view> target() const override { return message_.target; }
  const std::vector<std::string>& token_permissions() const override;
  bool is_member(std::string_view room) const override;
  std::chrono::steady_clock::time_point now() const override;
  int64_t unix_seconds() const override;
  boost::asio::any_io_executor executor() const override;
  bool fill(const Param& param, std::string& out) override;
  void reply(std::string_view event, std::string_view payload_json) override;
  void send_to_origin(std::string_view event, std::string_view payload_json) override;
  void send_to_target(std::string_view target, std::string_view event,
                      std::string_view payload_json) override;
  void send_to_user(std::string_view user, std::string_view event,
                    std::string_view payload_json) override;
  void broadcast(std::string_view event, std::string_view payload_json) override;
  bool join(std::string_view user, std::string_view room, bool this_connection_only) override;
  void leave(std::string_view user, std::string_view room) override;
  void disconnect(std::string_view user, std::string_view reason) override;
  void log_info(std::string_view text) override;
  StepStatus fail(ErrorCode code, std::string message) override;
  StepStatus fail_rate_limited(int64_t retry_after_ms) override;
  Completion defer() override;
  void hide_payload_token() override { token_hidden_ = true; }
  std::optional<std::string_view> payload_token() const override;

  // --- NodeStepContext
  Broker* broker() override;
  RoomPresence node_room_presence(std::string_view room) override;

  // --- TemplateScope
  bool resolve(const tmpl::Placeholder& placeholder, tmpl::ResolvedValue& out) override;

 private:
  void answer(ErrorCode code, std::string_view message);
  void count_outcome(std::optional<ErrorCode> failure);
  bool member_may_send(std::string_view room);
  std::string_view keep(std::string text);
  // Cluster mode: what a `_join` must wait for before the next step and the ack — this node and
  // every node with sessions of the joined user receiving what is published to the room.
  struct ReachWait;
  std::function<void()> reach_callback();
  void wait_until_reachable();  // the run goes pending until reach_wait_ is complete
  bool join_in_cluster(Broker& broker, std::string_view user, std::string_view room,
                       bool this_connection_only);
  void recover_in_cluster(Broker& broker, std::string_view room, std::chrono::milliseconds ttl);
  // A `_join` into a room whose max_members counts cluster-wide: made once Redis has admitted
  // the user (ask_room_admission, after the step).
  struct DeferredJoin {
    std::string user;
    std::string room;
    bool this_connection_only = false;
    uint32_t max_members = 0;
    std::string policy;
  };
  void ask_room_admission();
  void note_history_join(std::string_view room, const struct HistoryJoinRequest& history);
  std::string ack_extra() const;

  SessionLoop& loop_;
  std::shared_ptr<ReachWait> reach_wait_;  // null unless a join is waited for
  std::optional<DeferredJoin> deferred_join_;
  Session& session_;
  const Pipeline& pipeline_;
  IncomingMessage& message_;
  bool token_hidden_;
  bool outcome_counted_ = true;
  mutable std::string connection_id_;
  mutable std::string client_ip_;  // as text, made when a step first asks

  // The failure a step recorded.
  std::optional<ErrorCode> failure_;
  std::string failure_message_;
  std::string missing_field_;
  int64_t retry_after_ms_ = -1;

  size_t pending_step_ = 0;
  uint64_t ticket_ = 0;
  std::deque<std::string> values_;  // texts handed to templates; stable until the run ends
  // History rooms the sender joined, as JSON object members for the ack (built when one is).
  std::string recovered_json_;
  std::string positions_json_;
};

}  // namespace dispatch
