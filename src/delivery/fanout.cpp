#include "delivery/fanout.h"

#include <bit>

#include "pipeline/compiled_config.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "server/connection.h"

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

void publish_to_room(EventLoop& origin, std::string_view room, const FrameRef& frame) {
  for_each_loop(origin.engine().directory().room_loops(room), [&](unsigned loop) {
    if (loop == origin.index()) {
      origin.deliver_to_room(room, frame);
    } else {
      LoopTask task{.kind = LoopTask::Kind::deliver_room, .key = std::string(room), .frame = frame};
      origin.post_task(loop, std::move(task));
    }
  });
}

void publish_to_user(EventLoop& origin, std::string_view user, const FrameRef& frame) {
  for_each_loop(origin.engine().directory().user_loops(user), [&](unsigned loop) {
    if (loop == origin.index()) {
      origin.deliver_to_user(user, frame);
    } else {
      LoopTask task{.kind = LoopTask::Kind::deliver_user, .key = std::string(user), .frame = frame};
      origin.post_task(loop, std::move(task));
    }
  });
}

void publish_to_all(EventLoop& origin, const FrameRef& frame) {
  for (unsigned loop = 0; loop < origin.engine().loop_count(); ++loop) {
    if (loop == origin.index()) {
      origin.deliver_to_all(frame);
    } else {
      LoopTask task{.kind = LoopTask::Kind::deliver_all, .frame = frame};
      origin.post_task(loop, std::move(task));
    }
  }
}

void join_user_to_room(EventLoop& origin, std::string_view user, std::string_view room) {
  Directory& directory = origin.engine().directory();
  for_each_loop(directory.user_loops(user), [&](unsigned loop) {
    if (loop == origin.index()) {
      ConnectionList targets = origin.user_connections(user);
      for (Connection* connection : targets) {
        if (connection->is_open()) {
          origin.rooms().join(*connection, room,
                              origin.config().config().server.max_rooms_per_connection);
        }
      }
    } else {
      directory.add_room_refs(room, loop, +1);  // in flight; released by the task
      LoopTask task{
          .kind = LoopTask::Kind::join_user, .key = std::string(user), .room = std::string(room)};
      origin.post_task(loop, std::move(task));
    }
  });
}

void leave_user_from_room(EventLoop& origin, std::string_view user, std::string_view room) {
  for_each_loop(origin.engine().directory().user_loops(user), [&](unsigned loop) {
    if (loop == origin.index()) {
      ConnectionList targets = origin.user_connections(user);
      for (Connection* connection : targets) origin.rooms().leave(*connection, room);
    } else {
      LoopTask task{
          .kind = LoopTask::Kind::leave_user, .key = std::string(user), .room = std::string(room)};
      origin.post_task(loop, std::move(task));
    }
  });
}

}  // namespace dispatch
