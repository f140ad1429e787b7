// What a built-in step may ask of the node at run time beyond the public StepContext: the engine's
// MessageRun is one. A custom StepContext is not, and the built-ins then act as on a single node.
// (Load-time needs are in steps/engine_build_context.h.)
#pragma once

#include "delivery/broker.h"

namespace dispatch {

class NodeStepContext {
 public:
  // The way to other cluster nodes (cluster-wide rate limits among them); nullptr on a single
  // node.
  virtual Broker* broker() = 0;
  // A presence room's users and connections on this node.
  virtual RoomPresence node_room_presence(std::string_view room) = 0;

 protected:
  ~NodeStepContext() = default;
};

}  // namespace dispatch
