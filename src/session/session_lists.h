// The small types a loop needs to hold connections without the whole Connection: the hook that
// links a Connection into its loop's list, and the small lists of connections and rooms.
#pragma once

#include <boost/container/small_vector.hpp>
#include <boost/intrusive/list.hpp>

namespace dispatch {

class Connection;
struct LocalRoom;

// Lists that hold one element without a heap allocation: most users have one connection, most
// connections are in one room, and an idle connection's memory is counted in these.
using ConnectionList = boost::container::small_vector<Connection*, 1>;
using RoomList = boost::container::small_vector<LocalRoom*, 1>;

using ConnectionListHook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

}  // namespace dispatch
