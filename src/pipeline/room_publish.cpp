#include "pipeline/room_publish.h"

#include <memory>
#include <string>

#include "delivery/broker.h"
#include "delivery/fanout.h"
#include "delivery/loop_delivery.h"
#include "pipeline/compiled_config.h"
#include "pipeline/loop_mailbox.h"
#include "pipeline/session_loop.h"
#include "session/session_context.h"

namespace dispatch {

namespace {

// Cluster mode: the room's Redis shard gives the offset (Broker::publish_history). While it
// cannot be asked, the message is kept and delivered on this node alone, with this node's own
// offsets and epoch — a client recovering later learns that history was lost (another epoch).
void publish_through_redis(SessionLoop& loop, Broker& broker, std::string_view room,
                           std::string_view event, std::string_view payload_json,
                           const FrameOrigin& origin, HistoryLimits limits,
                           std::function<void()> delivered_here) {
  struct Copy {
    std::string room, event, payload, from;
    bool has_from = false;
  };
  auto copy =
      std::make_shared<Copy>(Copy{std::string(room), std::string(event), std::string(payload_json),
                                  std::string(origin.from.value_or("")), origin.from.has_value()});
  broker.publish_history(
      std::string(room), build_event_json_prefix(event, payload_json, origin), limits,
      [copy, limits, mailbox = loop.mailbox(), loop = &loop,
       delivered_here = std::move(delivered_here)](std::optional<uint64_t> offset) mutable {
        if (offset) {
          if (delivered_here) delivered_here();
          return;
        }
        mailbox->post([copy, limits, loop, delivered_here = std::move(delivered_here)] {
          FrameOrigin here;
          here.room = copy->room;
          if (copy->has_from) here.from = copy->from;
          std::function<void()> later = delivered_here;
          const bool here_now = publish_to_history_room(
              loop->delivery(), copy->room, limits, loop->clock().now(),
              [&](uint64_t offset, std::string_view epoch) {
                here.offset = offset;
                here.epoch = epoch;
                return build_event_frame(copy->event, copy->payload, here);
              },
              std::move(later));
          if (here_now && delivered_here) delivered_here();
        });
      });
}

}  // namespace

bool publish_room_message(SessionLoop& loop, std::string_view room, std::string_view event,
                          std::string_view payload_json, FrameOrigin origin,
                          std::function<void()> delivered_here) {
  const std::optional<HistoryLimits> limits = loop.config().history_limits(room);
  if (!limits) {
    origin.room = room;
    publish_to_room(loop.delivery(), room, build_event_frame(event, payload_json, origin));
    return true;
  }
  return publish_history_message(loop, room, *limits, event, payload_json, origin,
                                 std::move(delivered_here));
}

bool publish_history_message(SessionLoop& loop, std::string_view room, const HistoryLimits& limits,
                             std::string_view event, std::string_view payload_json,
                             FrameOrigin origin, std::function<void()> delivered_here) {
  origin.room = room;
  LoopDelivery& delivery = loop.delivery();
  if (Broker* broker = delivery.broker()) {
    publish_through_redis(loop, *broker, room, event, payload_json, origin, limits,
                          std::move(delivered_here));
    return false;
  }
  return publish_to_history_room(
      delivery, room, limits, loop.clock().now(),
      [&](uint64_t offset, std::string_view epoch) {
        origin.offset = offset;
        origin.epoch = epoch;
        return build_event_frame(event, payload_json, origin);
      },
      std::move(delivered_here));
}

}  // namespace dispatch
