#include "delivery/fanout.h"

#include <bit>
#include <string>

#include "delivery/loop_delivery.h"
#include "session/session.h"

namespace dispatch {

namespace {

template <typename Visit>
void for_each_loop(uint64_t loops, Visit visit) {
  while (loops) {
    unsigned loop = static_cast<unsigned>(std::countr_zero(loops));
    loops &= loops - 1;
    visit(loop);
  }
}

}  // namespace

namespace node_local {

void publish_to_room(LoopDelivery& origin, std::string_view room, const FrameRef& frame) {
  for_each_loop(origin.directory().room_loops(room), [&](unsigned loop) {
    if (loop == origin.index()) {
      origin.deliver_to_room(room, frame);
    } else {
      origin.post(loop, DeliverToRoom{std::string(room), frame});
    }
  });
}

void publish_to_user(LoopDelivery& origin, std::string_view user, const FrameRef& frame) {
  for_each_loop(origin.directory().user_loops(user), [&](unsigned loop) {
    if (loop == origin.index()) {
      origin.deliver_to_user(user, frame);
    } else {
      origin.post(loop, DeliverToUser{std::string(user), frame});
    }
  });
}

void publish_to_all(LoopDelivery& origin, const FrameRef& frame) {
  for (unsigned loop = 0; loop < origin.loop_count(); ++loop) {
    if (loop == origin.index()) {
      origin.deliver_to_all(frame);
    } else {
      origin.post(loop, DeliverToAll{frame});
    }
  }
}

void join_user_to_room(LoopDelivery& origin, std::string_view user, std::string_view room,
                       bool counts_users) {
  Directory& directory = origin.directory();
  for_each_loop(directory.user_loops(user), [&](unsigned loop) {
    if (loop == origin.index()) {
      SessionList targets = origin.user_sessions(user);
      for (Session* session : targets) {
        if (session->is_open()) origin.join(*session, room, counts_users);
      }
    } else {
      directory.add_room_refs(room, loop, +1);  // in flight; released by the task
      if (counts_users) directory.add_room_user_refs(room, user, +1);
      origin.post(loop, JoinUser{std::string(user), std::string(room), counts_users});
    }
  });
}

void leave_user_from_room(LoopDelivery& origin, std::string_view user, std::string_view room) {
  for_each_loop(origin.directory().user_loops(user), [&](unsigned loop) {
    if (loop == origin.index()) {
      SessionList targets = origin.user_sessions(user);
      for (Session* session : targets) origin.leave(*session, room);
    } else {
      origin.post(loop, LeaveUser{std::string(user), std::string(room)});
    }
  });
}

void disconnect_user(LoopDelivery& origin, std::string_view user, uint16_t code,
                     std::string_view reason) {
  for_each_loop(origin.directory().user_loops(user), [&](unsigned loop) {
    if (loop == origin.index()) {
      origin.close_user(user, code, reason);
    } else {
      origin.post(loop, CloseUser{std::string(user), code, std::string(reason)});
    }
  });
}

}  // namespace node_local

// The room's lock orders its messages and joins (delivery/room_history.h); nothing is delivered
// to a session while it is held (a delivery may close a slow consumer, whose hooks may publish).
bool publish_to_history_room(LoopDelivery& origin, std::string_view room,
                             const HistoryLimits& limits, SteadyTime now,
                             const HistoryFrameBuilder& build,
                             std::function<void()> delivered_here) {
  FrameRef frame;
  uint64_t offset = 0;
  bool deliver_here_now = false;
  bool posted_here = false;
  origin.history().with_room(room, now, true, [&](RoomLog& log) {
    offset = log.next_offset();
    frame = build(offset, log.epoch());
    log.append(frame, now, limits);
    for_each_loop(origin.directory().room_loops(room), [&](unsigned loop) {
      if (loop == origin.index() && log.in_flight(loop) == 0) {
        deliver_here_now = true;  // no older message of the room is on its way here
        return;
      }
      ++log.in_flight(loop);
      DeliverHistory task{std::string(room), frame, offset, nullptr};
      if (loop == origin.index()) {
        task.then = std::move(delivered_here);
        posted_here = true;
      }
      origin.send_now(loop, std::move(task));
    });
    return true;
  });
  if (deliver_here_now) origin.rooms().deliver_history(room, frame, offset);
  return !posted_here;
}

HistoryJoin join_with_history(LoopDelivery& origin, Session& session, std::string_view room,
                              bool counts_users, SteadyTime now,
                              const std::optional<HistoryPosition>& since, uint32_t last) {
  HistoryJoin result;
  std::vector<FrameRef> replay;
  origin.history().with_room(room, now, true, [&](RoomLog& log) {
    result.position = log.position();
    if (since) {
      result.ok = since->epoch == log.epoch() && log.frames_after(since->offset, replay);
      if (!result.ok) replay.clear();
    } else if (last > 0) {
      log.frames_after(log.offset_before_last(last), replay);
    }
    // From here on the room's messages are handed to this loop too; they run after this.
    origin.directory().add_room_refs(room, origin.index(), +1);
    return true;
  });
  for (const FrameRef& frame : replay) session.send(frame);
  result.joined = origin.join_at(session, room, counts_users, result.position.offset);
  origin.directory().add_room_refs(room, origin.index(), -1);
  return result;
}

std::optional<HistoryRead> read_history(RoomHistory& history, std::string_view room, SteadyTime now,
                                        uint64_t offset) {
  return history.with_room(room, now, false, [&](RoomLog& log) {
    HistoryRead read;
    read.position = log.position();
    const uint64_t first_kept =
        log.entries().empty() ? log.last_offset() + 1 : log.entries().front().offset;
    read.complete = offset + 1 >= first_kept;
    read.first_offset = offset + 1;
    for (const RoomLog::Entry& entry : log.entries()) {
      if (entry.offset > offset) read.frames.push_back(entry.frame);
    }
    return read;
  });
}

void deliver_history_frame(LoopDelivery& origin, std::string_view room, const FrameRef& frame,
                           uint64_t offset) {
  for_each_loop(origin.directory().room_loops(room), [&](unsigned loop) {
    if (loop == origin.index()) {
      origin.rooms().deliver_history(room, frame, offset);
    } else {
      origin.send_now(loop, DeliverHistory{std::string(room), frame, offset, nullptr});
    }
  });
}

void publish_to_room(LoopDelivery& origin, std::string_view room, const FrameRef& frame) {
  node_local::publish_to_room(origin, room, frame);
  if (Broker* broker = origin.broker()) broker->to_room(room, frame);
}

void publish_to_user(LoopDelivery& origin, std::string_view user, const FrameRef& frame) {
  node_local::publish_to_user(origin, user, frame);
  if (Broker* broker = origin.broker()) broker->to_user(user, frame);
}

void publish_to_all(LoopDelivery& origin, const FrameRef& frame) {
  node_local::publish_to_all(origin, frame);
  if (Broker* broker = origin.broker()) broker->to_all(frame);
}

void join_user_to_room(LoopDelivery& origin, std::string_view user, std::string_view room,
                       bool counts_users, std::function<void()> joined_everywhere) {
  node_local::join_user_to_room(origin, user, room, counts_users);
  if (Broker* broker = origin.broker()) {
    broker->join_user(user, room, counts_users, std::move(joined_everywhere));
  } else if (joined_everywhere) {
    joined_everywhere();
  }
}

void leave_user_from_room(LoopDelivery& origin, std::string_view user, std::string_view room) {
  node_local::leave_user_from_room(origin, user, room);
  if (Broker* broker = origin.broker()) broker->leave_user(user, room);
}

void disconnect_user(LoopDelivery& origin, std::string_view user, uint16_t code,
                     std::string_view reason) {
  node_local::disconnect_user(origin, user, code, reason);
  if (Broker* broker = origin.broker()) broker->close_user(user, code, reason);
}

}  // namespace dispatch
