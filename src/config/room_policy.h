// Finding the room policy (`rooms:`) that applies to a room id: globs in file order, the first
// match wins. A glob's `*` matches any run of characters (`:` included), `?` one character;
// everything else matches itself. Linear in the policies, each match O(glob × id) at worst.
#pragma once

#include <string_view>
#include <vector>

#include "config/config.h"

namespace dispatch::config {

bool glob_matches(std::string_view glob, std::string_view text);

// The first policy whose glob matches `room`, or nullptr.
const RoomPolicy* find_room_policy(const std::vector<RoomPolicy>& policies, std::string_view room);

}  // namespace dispatch::config
