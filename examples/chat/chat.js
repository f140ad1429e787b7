// Dispatch chat demo: plain browser JavaScript on the JavaScript client (clients/js, loaded as
// dispatch-client.browser.js), no build step of its own. The client reconnects with backoff,
// rejoins the page's rooms with `since` so that nothing sent meanwhile is lost or shown twice,
// and holds what you send while it reconnects. Events of examples/chat/config.yaml:
//   join   {target: "room:<name>"}                  joins this tab (with the room's last 50
//                                                    messages first); user_joined to the room
//   leave  {target: "room:<name>"}                  leaves; user_left to the room
//   who    {target: "room:<name>"}                  -> presence {room, users, connections}
//   send   {target: "room:<name>", payload: {text}} -> message to the room (with offset, epoch)
//   direct {payload: {to, text}}                     -> direct to every tab of that user
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const ui = {
    token: $("token"),
    connectForm: $("connect-form"),
    connect: $("connect"),
    disconnect: $("disconnect"),
    status: $("status"),
    serverUrl: $("server-url"),
    roomForm: $("room-form"),
    room: $("room"),
    join: $("join"),
    leave: $("leave"),
    rooms: $("rooms"),
    online: $("online"),
    onlineRoom: $("online-room"),
    currentRoom: $("current-room"),
    messageForm: $("message-form"),
    message: $("message"),
    send: $("send"),
    log: $("log"),
    showRaw: $("show-raw"),
  };

  // The WebSocket endpoint on the server that served this page (server.static_dir shares the
  // port with /ws). Opened from a file:// URL, fall back to the development address.
  const wsUrl = location.host
    ? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`
    : "ws://127.0.0.1:8080/ws";
  ui.serverUrl.textContent = wsUrl;
  if (location.host) $("fragment-example").textContent = `${location.origin}/#token=<token>`;

  // Close codes (RFC 6455 and Dispatch's own, docs/PROTOCOL.md) in words.
  const CLOSE_CODES = {
    1000: "normal close",
    1001: "the server is shutting down (going away)",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "closed without a status code",
    1006: "the connection failed or was lost without a close frame. If it never opened, the " +
      "server refused the handshake — a missing, invalid or expired token, an origin not in " +
      "server.allowed_origins, a connection limit — or no server is listening at " + wsUrl +
      ". The browser cannot see which: the server log says why.",
    1007: "a message was not valid UTF-8",
    1008: "policy violation (too many errors, or a slow consumer)",
    1009: "a message was larger than server.max_message_size",
    1011: "internal server error",
    1012: "the server is restarting",
    1015: "the TLS handshake failed",
    4000: "timeout: no pong, or no data within server.read_timeout",
    4001: "replaced by a newer connection of the same user",
    4003: "disconnected by the server (an action or the server API)",
    4401: "the session token expired or was refused",
    4403: "forbidden (origin or permission)",
    4429: "a connection limit was reached",
  };

  let client = null;
  let me = null; // user id from the welcome frame
  let lastClose = null;
  const rooms = new Set(); // the rooms this tab joined (the client rejoins them after a reconnect)
  const seenAtDisconnect = new Map(); // room -> offset seen when the connection was lost

  function roomTarget() {
    const name = ui.room.value.trim();
    if (!name) return null;
    return name.startsWith("room:") ? name : `room:${name}`;
  }

  function time() {
    return new Date().toLocaleTimeString([], { hour12: false });
  }

  // Appends one line to the log. Text only (textContent): never HTML from the network.
  function log(kind, text, frame) {
    const item = document.createElement("li");
    item.className = `entry ${kind}`;
    item.dataset.event = kind;
    const stamp = document.createElement("span");
    stamp.className = "time";
    stamp.textContent = time();
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(stamp, body);
    if (frame !== undefined && ui.showRaw.checked) {
      const raw = document.createElement("code");
      raw.className = "raw";
      raw.textContent = JSON.stringify(frame);
      item.append(raw);
    }
    ui.log.append(item);
    item.scrollIntoView({ block: "end" });
  }

  function describeError(error) {
    const about = error.event ? ` (for ${error.event}${error.ref != null ? ` #${error.ref}` : ""})` : "";
    // The server's rate_limited message already says "retry in N ms": add it only if not.
    const saysRetry = String(error.message ?? "").includes("retry");
    const extra = error.retryAfterMs != null && !saysRetry ? ` — retry in ${error.retryAfterMs} ms` : "";
    return `Error ${error.code}${about}: ${error.message}${extra}`;
  }

  function showState(state) {
    ui.status.dataset.state = state;
    ui.status.textContent =
      state === "open" ? `connected as ${me}`
      : state === "closed" ? (lastClose === null ? "not connected" : `closed (${lastClose})`)
      : `${state}…`;
    const active = client !== null && state !== "closed";
    ui.connect.disabled = active;
    ui.token.disabled = active;
    ui.disconnect.disabled = !active;
    // While reconnecting, what you send waits in the client's queue and goes out once back.
    for (const el of [ui.join, ui.leave, ui.message, ui.send]) el.disabled = !active;
  }

  function renderRooms() {
    ui.rooms.replaceChildren();
    for (const room of rooms) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = room;
      button.dataset.room = room;
      if (room === roomTarget()) button.className = "current";
      button.addEventListener("click", () => selectRoom(room));
      item.append(button);
      ui.rooms.append(item);
    }
  }

  function selectRoom(room) {
    ui.room.value = room.slice("room:".length);
    roomChanged();
  }

  function roomChanged() {
    const room = roomTarget();
    ui.currentRoom.textContent = room ?? "(no room)";
    ui.onlineRoom.textContent = room ?? "(no room)";
    ui.online.textContent = "—";
    renderRooms();
    if (room && rooms.has(room)) askWhoIsOnline(room);
  }

  // The room's users on every node: answered by a `presence` frame.
  function askWhoIsOnline(room) {
    client?.send("who", { target: room }).catch(() => {});
  }

  // History on join: the room's last messages come first, before the join's ack.
  const HISTORY_ON_JOIN = 50;
  const joining = new Map(); // room -> messages received while its join was on its way

  function joinRoom(room) {
    // rejoin: the client sends this join again after every reconnect, with `since` set to the
    // last position it saw (not `last` again), so the room replays exactly what was missed.
    joining.set(room, 0);
    const since = rooms.has(room) ? undefined : { [room]: { last: HISTORY_ON_JOIN } };
    client.send("join", { target: room, rejoin: true, since }).then(
      () => {
        const earlier = joining.get(room) ?? 0;
        joining.delete(room);
        rooms.add(room);
        log("joined", `You joined ${room}` + (earlier === 0 ? ""
          : ` (the ${earlier === 1 ? "message" : `${earlier} messages`} above came before you)`));
        renderRooms();
        if (room === roomTarget()) askWhoIsOnline(room);
      },
      (error) => {
        joining.delete(room);
        log("error", describeError(error));
      });
  }

  function leaveRoom(room) {
    client.send("leave", { target: room }).then(
      () => {
        client.forget(room);
        rooms.delete(room);
        log("left", `You left ${room}`);
        renderRooms();
        if (room === roomTarget()) ui.online.textContent = "—";
      },
      (error) => log("error", describeError(error)));
  }

  function listen(c) {
    c.on("$state", (state) => { if (c === client) showState(state); });
    c.on("welcome", (p, frame) => {
      me = p.user_id;
      showState(c.state);
      log("welcome", `Connected as ${p.user_id} (connection ${p.conn_id}, ${p.server})`, frame);
    });
    c.on("message", (p, frame) => {
      if (joining.has(frame.room)) joining.set(frame.room, joining.get(frame.room) + 1);
      log("message", `[${frame.room ?? "?"}] ${p.user}: ${p.text}`, frame);
    });
    c.on("direct", (p, frame) => log("direct", `${p.user} → you (direct): ${p.text}`, frame));
    for (const [event, verb] of [["user_joined", "joined"], ["user_left", "left"]]) {
      c.on(event, (p, frame) => {
        log(event, `${p.user} ${verb} ${frame.room ?? ""}`.trim(), frame);
        if (frame.room && frame.room === roomTarget()) askWhoIsOnline(frame.room);
      });
    }
    c.on("presence", (p) => {
      if (p.room !== roomTarget()) return;
      const count = p.connections === 1 ? "1 connection" : `${p.connections} connections`;
      ui.online.textContent = p.users.length ? `${p.users.join(", ")} (${count})` : "nobody";
    });
    c.on("error", (p, frame) => log("error", `Error ${p.code}: ${p.message}`, frame));
    let explained = false; // a first connect that failed was explained once already
    c.on("$disconnected", ({ code, reason, willReconnect }) => {
      lastClose = code;
      if (c.state === "reconnecting" || (c.state === "connecting" && explained)) {
        // Another attempt that did not get through (the server is still down, say).
        log("close", `Still not connected (${code}) — retrying`);
        return;
      }
      if (c.state === "connecting") explained = true;
      for (const room of rooms) seenAtDisconnect.set(room, c.position(room)?.offset ?? 0);
      const words = CLOSE_CODES[code] ?? "unknown close code";
      const why = reason ? ` — reason: "${reason}"` : "";
      log("close", `Closed ${code}: ${words}${why}${willReconnect ? " — reconnecting" : ""}`);
    });
    c.on("$reconnecting", ({ attempt, delay }) =>
      log("reconnecting", `Reconnecting in ${delay} ms (attempt ${attempt})`));
    c.on("$recovered", (room, position) => {
      const missed = position.offset - (seenAtDisconnect.get(room) ?? position.offset);
      log("recovered", `Back in ${room}: ${missed} missed message${missed === 1 ? "" : "s"} recovered`);
      if (room === roomTarget()) askWhoIsOnline(room);
    });
    c.on("$reset", (room) => {
      log("reset", `The history of ${room} was lost (the server restarted without Redis, or you ` +
        "were away too long): messages sent meanwhile may be missing");
      if (room === roomTarget()) askWhoIsOnline(room);
    });
    c.on("$error", (error) => log("error", describeError(error)));
  }

  function connect() {
    if (client) return;
    if (!window.DispatchClient) {
      log("local", "dispatch-client.browser.js did not load: build it with ./scripts/setup");
      return;
    }
    const token = ui.token.value.trim();
    // Browsers cannot set an Authorization header on a WebSocket: the client sends the token as
    // the subprotocol "bearer.<token>". Without one the browser sends the session-token cookie,
    // if there is one for this host.
    client = new window.DispatchClient.DispatchClient(wsUrl, {
      getToken: token ? () => token : undefined,
      refresh: false, // a pasted token cannot be renewed: at its exp the server closes (4401)
    });
    listen(client);
    log("local", token ? `connecting to ${wsUrl}` : `connecting to ${wsUrl} with the session-token cookie`);
    client.connect().catch(() => {});
    showState(client.state);
  }

  function disconnect() {
    const c = client;
    if (!c) return;
    client = null;
    rooms.clear();
    renderRooms();
    ui.online.textContent = "—";
    c.close(1000, "bye").then(() => {
      lastClose = 1000;
      showState("closed");
    });
  }

  ui.connectForm.addEventListener("submit", (event) => {
    event.preventDefault();
    connect();
  });
  ui.disconnect.addEventListener("click", disconnect);
  ui.room.addEventListener("input", roomChanged);
  ui.roomForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const room = roomTarget();
    if (room && client) joinRoom(room);
  });
  ui.leave.addEventListener("click", () => {
    const room = roomTarget();
    if (room && client) leaveRoom(room);
  });

  ui.messageForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.message.value;
    if (!text.trim() || !client) return;
    const dm = /^\/dm\s+(\S+)\s+([\s\S]+)$/.exec(text);
    if (dm) {
      const [, to, body] = dm;
      client.send("direct", { payload: { to, text: body } }).then(
        () => log("direct-sent", `you → ${to} (direct): ${body}`),
        (error) => log("error", describeError(error)));
    } else {
      const room = roomTarget();
      if (!room) return;
      // Shown when the room sends it back (every member gets it, in the room's order).
      client.send("send", { target: room, payload: { text } }).catch(
        (error) => log("error", describeError(error)));
    }
    ui.message.value = "";
  });

  // A token in the URL fragment (#token=...; the fragment never reaches the server) fills the
  // field and connects at once; #room=<name> picks the room.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("room")) ui.room.value = fragment.get("room");
  roomChanged();
  showState("closed");
  if (fragment.get("token")) {
    ui.token.value = fragment.get("token");
    connect();
  }
})();
