// The Node `ws` peer of bench/suite.sh, written as a user would write it: `ws` on Node's HTTP
// server, the token checked with `jsonwebtoken` before the upgrade, JSON.parse per message, a Map
// of rooms. Same events as every peer (see docs/BENCHMARKS.md, "Peers"):
//   welcome after the upgrade; echo → echo; join (rooms); send → every member of the room;
//   an `id` is acked; a member with more than 1 MiB buffered is closed (slow consumer).
//
//   node bench/peers/node_ws/server.mjs --port P   (secret in DISPATCH_JWT_SECRET)
import { createSecretKey } from "node:crypto";
import http from "node:http";
import jwt from "jsonwebtoken";
import { WebSocketServer } from "ws";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const port = Number(arg("--port", 9003));
const host = arg("--address", "127.0.0.1");
const secret = process.env.DISPATCH_JWT_SECRET;
const QUEUE_LIMIT = Number(arg("--queue-limit", 1 << 20));
if (!secret) throw new Error("DISPATCH_JWT_SECRET is required");
// A KeyObject, not the string: given a string, jsonwebtoken 9 first tries to parse it as a PEM
// public key on every verify (and throws), which made handshakes about 7 times dearer here.
const key = createSecretKey(Buffer.from(secret));

const rooms = new Map(); // room → Set of sockets
const server = http.createServer((req, res) => res.writeHead(426).end());
const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

server.on("upgrade", (req, socket, head) => {
  let user;
  try {
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    user = jwt.verify(token, key, { algorithms: ["HS256"] }).sub;
  } catch {}
  if (typeof user !== "string" || !user) {
    socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.user = user;
    ws.rooms = new Set();
    wss.emit("connection", ws, req);
  });
});

wss.on("connection", (ws) => {
  ws.send(JSON.stringify({ event: "welcome", payload: { user_id: ws.user } }));
  ws.on("message", (data) => {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return ws.send(JSON.stringify({ event: "error", payload: { code: "bad_json" } }));
    }
    const { event, target, payload, id } = msg;
    if (event === "echo") {
      ws.send(JSON.stringify({ event: "echo", payload }));
    } else if (event === "join" && typeof target === "string") {
      if (!rooms.has(target)) rooms.set(target, new Set());
      rooms.get(target).add(ws);
      ws.rooms.add(target);
    } else if (event === "send" && typeof target === "string") {
      const frame = Buffer.from(JSON.stringify({ event: "send", payload, room: target, from: ws.user }));
      for (const member of rooms.get(target) ?? []) {
        if (member.bufferedAmount > QUEUE_LIMIT) member.terminate(); // slow consumer
        else member.send(frame, { binary: false });
      }
    } else {
      return ws.send(JSON.stringify({ event: "error", payload: { code: "unknown_event" } }));
    }
    if (id !== undefined) ws.send(JSON.stringify({ event: "ack", payload: { ref: id } }));
  });
  ws.on("close", () => {
    for (const room of ws.rooms) {
      const members = rooms.get(room);
      members.delete(ws);
      if (members.size === 0) rooms.delete(room);
    }
  });
});

server.listen(port, host, () => console.log(`listening on ${host}:${port}`));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
