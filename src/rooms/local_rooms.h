// One loop's rooms: room id → the loop's connections in it. A connection keeps pointers to the
// rooms it is in, so leaving everything at disconnect needs no lookup. Membership is per
// connection and ends with it; an empty room is erased (locally and in the Directory).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rooms/directory.h"

namespace dispatch {

class Connection;

struct LocalRoom {
  std::string name;
  std::vector<Connection*> members;
};

class LocalRooms {
 public:
  LocalRooms(Directory& directory, unsigned loop) : directory_(directory), loop_(loop) {}

  LocalRoom* find(std::string_view name) const;
  // Adds the connection; false when it was already a member.
  bool join(Connection& connection, std::string_view name);
  bool leave(Connection& connection, std::string_view name);
  void leave_all(Connection& connection);
  size_t size() const { return rooms_.size(); }

 private:
  void remove_member(LocalRoom& room, Connection& connection);

  Directory& directory_;
  unsigned loop_;
  std::unordered_map<std::string_view, std::unique_ptr<LocalRoom>> rooms_;  // keys view names
};

}  // namespace dispatch
