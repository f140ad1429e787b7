// The hook that links a Connection into its loop's list of connections. Separate from
// connection.h so the loop can declare the list without the whole Connection.
#pragma once

#include <boost/intrusive/list.hpp>

namespace dispatch {

using ConnectionListHook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

}  // namespace dispatch
