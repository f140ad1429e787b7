// Told when a session of a loop joins or leaves a room through that loop's LoopDelivery (a
// `_join`/`_leave` of its own, or one applied for another loop's step). Leaving every room when
// a session closes is not reported here: whoever closes it knows its rooms. The pipeline's
// lifecycle hooks (on_join, on_leave) are one; a loop installs a watcher only while its config
// has such hooks, so a join without one pays a null test.
#pragma once

#include <string_view>

namespace dispatch {

class Session;

class MembershipWatcher {
 public:
  virtual void joined(Session& session, std::string_view room) = 0;
  virtual void left(Session& session, std::string_view room) = 0;

 protected:
  ~MembershipWatcher() = default;
};

}  // namespace dispatch
