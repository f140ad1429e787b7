// The embedded development config: what `dispatch` runs with no --config and no ./config.yaml.
// A small chat on 127.0.0.1:8080 with a public secret — for trying Dispatch, never production.
#pragma once

#include <string_view>

namespace dispatch {

inline constexpr std::string_view development_secret = "dispatch-development-secret-DO-NOT-USE";

inline constexpr std::string_view development_config = R"yaml(# Dispatch embedded development config
server:
  address: "127.0.0.1:8080"
  allowed_origins: ["*"]
auth:
  jwt:
    secret: "dispatch-development-secret-DO-NOT-USE"
# In this demo anyone may post to any room: `lint_ignore` tells `dispatch check` that this is
# meant (its lint unguarded_room_send would warn; see docs/CONFIG.md, "Lints").
events:
  join:
    actions:
      - name: _join
        params: ["{$user.id}", "{$target.id}"]
      - name: _reply
        params: ["joined", '{"room": "{$target.id}"}']
      - name: _notify_room
        params: ["user_joined", '{"user": "{$user.id}"}']
  leave:
    lint_ignore: [unguarded_room_send]
    actions:
      - name: _leave
        params: ["{$user.id}", "{$target.id}"]
      - name: _reply
        params: ["left", '{"room": "{$target.id}"}']
      - name: _notify_room
        params: ["user_left", '{"user": "{$user.id}"}']
  send:
    lint_ignore: [unguarded_room_send]
    modifiers:
      - name: rate_limit
        params: ["20/10s"]
    actions:
      - name: _notify_room
        params: ["message", '{"user": "{$user.id}", "text": "{.payload.text}"}']
  direct:
    lint_ignore: [unguarded_room_send]
    modifiers:
      - name: rate_limit
        params: ["20/10s"]
    actions:
      - name: _notify_room
        params: ["direct", '{"user": "{$user.id}", "text": "{.payload.text}"}']
)yaml";

}  // namespace dispatch
