// Work one event loop hands to another: deliver a frame to local members, apply a join or leave
// for a user's local connections, close a connection, install a new config, shut down.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "frames/out_frame.h"

namespace dispatch {

class CompiledConfig;

struct LoopTask {
  enum class Kind {
    deliver_room,  // key = room
    deliver_user,  // key = user
    deliver_all,
    join_user,         // key = user, room; releases one in-flight room reference
    leave_user,        // key = user, room
    close_connection,  // key = user, connection, code, reason
    install_config,    // config
    close_all,         // code, reason
  };
  Kind kind = Kind::deliver_all;
  std::string key;
  std::string room;
  FrameRef frame;
  uint64_t connection = 0;
  uint16_t code = 0;
  std::string reason;
  std::shared_ptr<const CompiledConfig> config;
};

}  // namespace dispatch
