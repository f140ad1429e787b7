// The lifecycle hooks (`hooks:` in config): which moments of a connection's life run an action
// list of their own, and their names (in config, in logs, in metrics labels and as the
// `X-Dispatch-Event` of a hook's `_webhook`).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dispatch {

enum class Hook : uint8_t { on_connect, on_disconnect, on_join, on_leave };
inline constexpr size_t kHookCount = 4;
inline constexpr std::array<std::string_view, kHookCount> kHookNames = {
    "on_connect", "on_disconnect", "on_join", "on_leave"};

inline std::string_view hook_name(Hook hook) {
  return kHookNames[static_cast<size_t>(hook)];
}
// on_join and on_leave concern one room: their templates may read {$room.id}.
inline bool hook_has_room(Hook hook) {
  return hook == Hook::on_join || hook == Hook::on_leave;
}

}  // namespace dispatch
