// One event loop's part of delivery: its rooms (LocalRooms), its users' open sessions, and the
// tasks it has for other loops. Fan-out (delivery/fanout.h) decides which loops a frame must
// reach; this loop's recipients are served here at once, other loops get a DeliveryTask in this
// turn's outbox, which the loop posts as one batch per target loop at the end of the turn (FIFO
// per loop, so one sender's frames keep their order). Single-threaded: the loop's own.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "delivery/broker.h"
#include "delivery/delivery_task.h"
#include "delivery/directory.h"
#include "delivery/local_rooms.h"
#include "delivery/membership_watcher.h"
#include "delivery/room_history.h"
#include "frames/out_frame.h"
#include "session/session_context.h"
#include "session/session_lists.h"

namespace dispatch {

class LoopDelivery {
 public:
  // `outbox_filled` is called whenever a task is queued for another loop (the loop then makes
  // sure its end of turn runs).
  LoopDelivery(Directory& directory, RoomHistory& history, unsigned index,
               const SessionContext& sessions, std::function<void()> outbox_filled);

  unsigned index() const { return index_; }
  unsigned loop_count() const { return loop_count_; }
  Directory& directory() { return directory_; }
  RoomHistory& history() { return history_; }
  LocalRooms& rooms() { return rooms_; }

  // --- this loop's open sessions by user
  const SessionList& user_sessions(std::string_view user) const;  // empty if none
  void add_user_session(Session& session);
  void remove_user_session(Session& session);
  // Joins the session to a room within server.max_rooms_per_connection; false when it was a
  // member already or is at the limit. `counts_users`: the room has a max_members policy.
  bool join(Session& session, std::string_view room, bool counts_users = false);
  // A room that keeps history: joins (or, for a member, only moves) the session to `offset`
  // (LocalRooms::join_at); true when it joined now.
  bool join_at(Session& session, std::string_view room, bool counts_users, uint64_t offset);
  // Takes the session out of a room; false when it was not a member.
  bool leave(Session& session, std::string_view room);
  // Told of each join and leave above (nullptr: nobody is; the default).
  void set_membership_watcher(MembershipWatcher* watcher) { watcher_ = watcher; }
  // The way to other cluster nodes (nullptr on a single node: the default).
  Broker* broker() const { return broker_; }
  void set_broker(Broker* broker) { broker_ = broker; }
  // Closes every session of `user` on this loop.
  void close_user(std::string_view user, uint16_t code, std::string_view reason);

  // --- local delivery (this loop's sessions only)
  void deliver_to_room(std::string_view room, const FrameRef& frame);
  void deliver_to_user(std::string_view user, const FrameRef& frame);
  void deliver_to_all(const FrameRef& frame);

  // --- work for other loops
  // Runs the task here when `loop` is this one; otherwise queues it in the outbox.
  void post(unsigned loop, DeliveryTask task);
  // Hands `task` to `loop` at once instead of at the end of the turn, after what this turn
  // queued for that loop already (one sender's order holds). For this loop itself too: then the
  // task runs after what other loops handed this one before it. Needs the batch sender.
  void send_now(unsigned loop, DeliveryTask task);
  // How a batch of tasks reaches another loop (the event loop posts it there).
  using BatchSender = std::function<void(unsigned loop, std::vector<DeliveryTask> batch)>;
  void set_batch_sender(BatchSender sender) { send_batch_ = std::move(sender); }
  // A task another loop sent here.
  void run(DeliveryTask& task);
  // Tasks per target loop, taken by the loop at the end of its turn.
  std::vector<std::vector<DeliveryTask>>& outbox() { return outbox_; }

 private:
  Directory& directory_;
  RoomHistory& history_;
  unsigned index_;
  unsigned loop_count_;
  const SessionContext& sessions_;
  std::function<void()> outbox_filled_;
  LocalRooms rooms_;
  MembershipWatcher* watcher_ = nullptr;
  Broker* broker_ = nullptr;
  std::unordered_map<std::string, SessionList, StringHash, std::equal_to<>> users_;
  std::vector<std::vector<DeliveryTask>> outbox_;  // per target loop
  BatchSender send_batch_;
};

}  // namespace dispatch
