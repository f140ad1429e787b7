// Dispatch chat demo: plain browser JavaScript, no build step.
// Talks to the events of the embedded development config (src/app/default_config.h):
//   join   {target: "room:<name>"}                 -> joined (to you), user_joined (to the room)
//   leave  {target: "room:<name>"}                 -> left (to you), user_left (to the room)
//   send   {target: "room:<name>", payload: {text}} -> message (to the room's members)
//   direct {target: "user:<id>",   payload: {text}} -> direct (to that user's connections)
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

  let ws = null;
  let nextId = 1;
  const pending = new Map(); // message id -> what it was, to describe its ack or error
  let me = null; // user id from the welcome frame

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
    if (frame !== undefined) {
      const raw = document.createElement("code");
      raw.className = "raw";
      raw.textContent = typeof frame === "string" ? frame : JSON.stringify(frame);
      item.append(raw);
    }
    ui.log.append(item);
    item.scrollIntoView({ block: "end" });
  }

  function setState(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text;
    const open = state === "open";
    const idle = state === "closed";
    ui.connect.disabled = !idle;
    ui.token.disabled = !idle;
    ui.disconnect.disabled = idle;
    for (const el of [ui.join, ui.leave, ui.message, ui.send]) el.disabled = !open;
  }

  function sendFrame(frame, description) {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      log("local", "not connected");
      return;
    }
    const id = nextId++;
    pending.set(id, description);
    const text = JSON.stringify({ ...frame, id });
    ws.send(text);
    if (ui.showRaw.checked) log("sent", `sent ${frame.event}`, text);
  }

  function describe(frame) {
    const p = frame.payload ?? {};
    switch (frame.event) {
      case "welcome":
        me = p.user_id;
        ui.status.textContent = `connected as ${me}`;
        return `Connected as ${p.user_id} (connection ${p.conn_id}, ${p.server})`;
      case "joined":
        return `You joined ${p.room}`;
      case "left":
        return `You left ${p.room}`;
      case "user_joined":
        return `${p.user} joined ${frame.room ?? ""}`.trim();
      case "user_left":
        return `${p.user} left ${frame.room ?? ""}`.trim();
      case "message":
        return `[${frame.room ?? "?"}] ${p.user}: ${p.text}`;
      case "direct":
        return `${p.user} → you (direct): ${p.text}`;
      case "error": {
        const about = p.event ? ` (for ${p.event}${p.ref != null ? ` #${p.ref}` : ""})` : "";
        // The server's rate_limited message already says "retry in N ms": add it only if not.
        const saysRetry = String(p.message ?? "").includes("retry");
        const extra = p.retry_after_ms != null && !saysRetry ? ` — retry in ${p.retry_after_ms} ms` : "";
        return `Error ${p.code}${about}: ${p.message}${extra}`;
      }
      default:
        return `${frame.event}: ${JSON.stringify(p)}`;
    }
  }

  function onFrame(event) {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      log("raw", "non-JSON frame", event.data);
      return;
    }
    const raw = ui.showRaw.checked ? event.data : undefined;
    if (frame.event === "ack") {
      const what = pending.get(frame.payload?.ref);
      pending.delete(frame.payload?.ref);
      if (what?.direct) log("direct-sent", `you → ${what.direct} (direct): ${what.text}`, raw);
      else if (raw !== undefined) log("ack", `ack #${frame.payload?.ref}`, raw);
      return;
    }
    if (frame.event === "error") pending.delete(frame.payload?.ref);
    log(frame.event, describe(frame), raw);
  }

  function connect() {
    if (ws) return;
    const token = ui.token.value.trim();
    // Browsers cannot set an Authorization header on a WebSocket: the token travels as the
    // subprotocol "bearer.<token>" beside "dispatch.v1". Without a token the browser sends the
    // session-token cookie, if there is one for this host.
    const protocols = token ? ["dispatch.v1", `bearer.${token}`] : ["dispatch.v1"];
    setState("connecting", "connecting…");
    log("local", token ? `connecting to ${wsUrl}` : `connecting to ${wsUrl} with the session-token cookie`);
    let socket;
    try {
      socket = new WebSocket(wsUrl, protocols);
    } catch (error) {
      // e.g. a token with characters a subprotocol may not hold.
      setState("closed", "not connected");
      log("close", `could not connect: ${error.message}`);
      return;
    }
    ws = socket;
    socket.onopen = () => {
      if (ws !== socket) return;
      setState("open", "connected");
    };
    socket.onmessage = (event) => {
      if (ws === socket) onFrame(event);
    };
    socket.onclose = (event) => {
      if (ws !== socket) return;
      ws = null;
      me = null;
      pending.clear();
      const words = CLOSE_CODES[event.code] ?? "unknown close code";
      const reason = event.reason ? ` — reason: "${event.reason}"` : "";
      log("close", `Closed ${event.code}: ${words}${reason}`);
      setState("closed", `closed (${event.code})`);
    };
    // onerror carries no detail in browsers; onclose (1006) follows and explains.
  }

  ui.connectForm.addEventListener("submit", (event) => {
    event.preventDefault();
    connect();
  });
  ui.disconnect.addEventListener("click", () => {
    if (ws) ws.close(1000, "bye");
  });

  ui.room.addEventListener("input", () => {
    ui.currentRoom.textContent = roomTarget() ?? "(no room)";
  });
  ui.roomForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const target = roomTarget();
    if (target) sendFrame({ event: "join", target }, { join: target });
  });
  ui.leave.addEventListener("click", () => {
    const target = roomTarget();
    if (target) sendFrame({ event: "leave", target }, { leave: target });
  });

  ui.messageForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.message.value;
    if (!text.trim()) return;
    const dm = /^\/dm\s+(\S+)\s+([\s\S]+)$/.exec(text);
    if (dm) {
      const [, user, body] = dm;
      sendFrame({ event: "direct", target: `user:${user}`, payload: { text: body } },
                { direct: user, text: body });
    } else {
      const target = roomTarget();
      if (!target) return;
      sendFrame({ event: "send", target, payload: { text } }, { send: target });
    }
    ui.message.value = "";
  });

  // A token in the URL fragment (#token=...; the fragment never reaches the server) fills the
  // field and connects at once; #room=<name> picks the room.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("room")) ui.room.value = fragment.get("room");
  ui.currentRoom.textContent = roomTarget() ?? "(no room)";
  setState("closed", "not connected");
  if (fragment.get("token")) {
    ui.token.value = fragment.get("token");
    connect();
  }
})();
