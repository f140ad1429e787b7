#include "delivery/loop_delivery.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "session/session.h"

namespace dispatch {

namespace {
const SessionList no_sessions;
}  // namespace

LoopDelivery::LoopDelivery(Directory& directory, RoomHistory& history, unsigned index,
                           const SessionContext& sessions, std::function<void()> outbox_filled)
    : directory_(directory),
      history_(history),
      index_(index),
      loop_count_(directory.loop_count()),
      sessions_(sessions),
      outbox_filled_(std::move(outbox_filled)),
      rooms_(directory, index),
      outbox_(directory.loop_count()) {}

const SessionList& LoopDelivery::user_sessions(std::string_view user) const {
  auto found = users_.find(user);
  return found == users_.end() ? no_sessions : found->second;
}

void LoopDelivery::add_user_session(Session& session) {
  auto found = users_.find(session.user_id());
  if (found == users_.end()) found = users_.try_emplace(session.user_id()).first;
  found->second.push_back(&session);
}

void LoopDelivery::remove_user_session(Session& session) {
  auto found = users_.find(session.user_id());
  if (found == users_.end()) return;
  auto& list = found->second;
  list.erase(std::remove(list.begin(), list.end(), &session), list.end());
  if (list.empty()) users_.erase(found);
}

bool LoopDelivery::join(Session& session, std::string_view room, bool counts_users) {
  if (!rooms_.join(session, room, sessions_.server().max_rooms_per_connection, counts_users)) {
    return false;
  }
  if (watcher_) watcher_->joined(session, room);
  return true;
}

bool LoopDelivery::join_at(Session& session, std::string_view room, bool counts_users,
                           uint64_t offset) {
  if (!rooms_.join_at(session, room, sessions_.server().max_rooms_per_connection, counts_users,
                      offset)) {
    return false;
  }
  if (watcher_) watcher_->joined(session, room);
  return true;
}

bool LoopDelivery::leave(Session& session, std::string_view room) {
  if (!rooms_.leave(session, room)) return false;
  if (watcher_) watcher_->left(session, room);
  return true;
}

void LoopDelivery::close_user(std::string_view user, uint16_t code, std::string_view reason) {
  SessionList targets = user_sessions(user);  // closing a session takes it off the list
  for (Session* session : targets) session->close(code, reason);
}

void LoopDelivery::deliver_to_room(std::string_view room, const FrameRef& frame) {
  rooms_.for_each_member(room, [&](Session& member) { member.send(frame); });
}

void LoopDelivery::deliver_to_user(std::string_view user, const FrameRef& frame) {
  auto found = users_.find(user);
  if (found == users_.end()) return;
  SessionList targets = found->second;  // a send may close a slow consumer and change the list
  for (Session* session : targets) session->send(frame);
}

void LoopDelivery::deliver_to_all(const FrameRef& frame) {
  std::vector<Session*> targets;
  for (const auto& [user, sessions] : users_) {
    targets.insert(targets.end(), sessions.begin(), sessions.end());
  }
  for (Session* session : targets) session->send(frame);
}

void LoopDelivery::post(unsigned loop, DeliveryTask task) {
  if (loop == index_) {
    run(task);
    return;
  }
  outbox_[loop].push_back(std::move(task));
  outbox_filled_();
}

void LoopDelivery::send_now(unsigned loop, DeliveryTask task) {
  std::vector<DeliveryTask> batch;
  batch.swap(outbox_[loop]);
  batch.push_back(std::move(task));
  send_batch_(loop, std::move(batch));
}

void LoopDelivery::run(DeliveryTask& task) {
  std::visit(
      [this](auto& work) {
        using Work = std::decay_t<decltype(work)>;
        if constexpr (std::is_same_v<Work, DeliverToRoom>) {
          deliver_to_room(work.room, work.frame);
        } else if constexpr (std::is_same_v<Work, DeliverToUser>) {
          deliver_to_user(work.user, work.frame);
        } else if constexpr (std::is_same_v<Work, DeliverToAll>) {
          deliver_to_all(work.frame);
        } else if constexpr (std::is_same_v<Work, JoinUser>) {
          SessionList targets = user_sessions(work.user);
          for (Session* session : targets) {
            if (session->is_open()) join(*session, work.room, work.counts_users);
          }
          directory_.add_room_refs(work.room, index_, -1);  // the join is no longer in flight
          if (work.counts_users) directory_.add_room_user_refs(work.room, work.user, -1);
        } else if constexpr (std::is_same_v<Work, LeaveUser>) {
          SessionList targets = user_sessions(work.user);
          for (Session* session : targets) leave(*session, work.room);
        } else if constexpr (std::is_same_v<Work, CloseUserSession>) {
          SessionList targets = user_sessions(work.user);
          for (Session* session : targets) {
            if (session->number() == work.session) session->close(work.code, work.reason);
          }
        } else if constexpr (std::is_same_v<Work, CloseUser>) {
          close_user(work.user, work.code, work.reason);
        } else if constexpr (std::is_same_v<Work, ToBroker>) {
          if (broker_) broker_->run(work);
        } else if constexpr (std::is_same_v<Work, DeliverHistory>) {
          rooms_.deliver_history(work.room, work.frame, work.offset);
          history_.delivered(work.room, index_);
          if (work.then) work.then();
        }
      },
      task);
}

}  // namespace dispatch
