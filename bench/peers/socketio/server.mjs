// The Socket.IO peer of bench/suite.sh, written as a user would write it: the token checked in a
// middleware with `jsonwebtoken`, socket events, Socket.IO's own rooms and acknowledgements,
// WebSocket transport only (no long-polling; the load generator speaks Engine.IO v4 over
// WebSocket). The same events as every peer, in Socket.IO's shape:
//   emit("welcome", {user_id}) on connect; "echo" (payload) → emit("echo", payload);
//   "join" (room, ack) → socket.join(room), ack(); "send" (room, payload) →
//   io.to(room).emit("send", {payload, room, from}).
// Socket.IO has no per-socket send bound: a member that stops reading is not closed.
//
//   node bench/peers/socketio/server.mjs --port P   (secret in DISPATCH_JWT_SECRET)
import { createSecretKey } from "node:crypto";
import http from "node:http";
import jwt from "jsonwebtoken";
import { Server } from "socket.io";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const port = Number(arg("--port", 9004));
const host = arg("--address", "127.0.0.1");
const secret = process.env.DISPATCH_JWT_SECRET;
if (!secret) throw new Error("DISPATCH_JWT_SECRET is required");
// A KeyObject, not the string: given a string, jsonwebtoken 9 first tries to parse it as a PEM
// public key on every verify (and throws), which made handshakes about 7 times dearer here.
const key = createSecretKey(Buffer.from(secret));

const server = http.createServer();
const io = new Server(server, { transports: ["websocket"], serveClient: false });

io.use((socket, next) => {
  const token =
    socket.handshake.auth?.token ?? (socket.handshake.headers.authorization ?? "").replace(/^Bearer /, "");
  try {
    const { sub } = jwt.verify(token, key, { algorithms: ["HS256"] });
    if (typeof sub !== "string" || !sub) throw new Error("no sub");
    socket.data.user = sub;
    next();
  } catch {
    next(new Error("unauthorized"));
  }
});

io.on("connection", (socket) => {
  socket.emit("welcome", { user_id: socket.data.user });
  socket.on("echo", (payload) => socket.emit("echo", payload));
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("send", (room, payload, ack) => {
    io.to(room).emit("send", { payload, room, from: socket.data.user });
    if (typeof ack === "function") ack();
  });
});

server.listen(port, host, () => console.log(`listening on ${host}:${port}`));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
