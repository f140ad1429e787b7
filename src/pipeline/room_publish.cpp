#include "pipeline/room_publish.h"

#include "delivery/fanout.h"
#include "delivery/loop_delivery.h"
#include "pipeline/compiled_config.h"
#include "pipeline/session_loop.h"
#include "session/session_context.h"

namespace dispatch {

bool publish_room_message(SessionLoop& loop, std::string_view room, std::string_view event,
                          std::string_view payload_json, FrameOrigin origin,
                          std::function<void()> delivered_here) {
  origin.room = room;
  LoopDelivery& delivery = loop.delivery();
  const std::optional<HistoryLimits> limits = loop.config().history_limits(room);
  if (!limits) {
    publish_to_room(delivery, room, build_event_frame(event, payload_json, origin));
    return true;
  }
  return publish_to_history_room(
      delivery, room, *limits, loop.clock().now(),
      [&](uint64_t offset, std::string_view epoch) {
        origin.offset = offset;
        origin.epoch = epoch;
        return build_event_frame(event, payload_json, origin);
      },
      std::move(delivered_here));
}

}  // namespace dispatch
