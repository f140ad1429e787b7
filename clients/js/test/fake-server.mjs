// A scripted stand-in for the server in unit tests: a real `ws` WebSocketServer on 127.0.0.1:0
// whose test plays the frames. Each accepted connection records its subprotocols and queues
// the messages it receives (conn.next() awaits the next one, parsed).
import { once } from "node:events";
import { WebSocketServer } from "ws";

export async function fakeServer({ welcome = true } = {}) {
  const wss = new WebSocketServer({
    host: "127.0.0.1", port: 0,
    handleProtocols: (protocols) => (protocols.has("dispatch.v1") ? "dispatch.v1" : false),
  });
  await once(wss, "listening");
  const conns = [];
  const waiting = [];
  let counter = 0;
  wss.on("connection", (socket, request) => {
    const conn = {
      socket,
      protocols: (request.headers["sec-websocket-protocol"] || "").split(",").map((s) => s.trim()),
      messages: [],
      readers: [],
      closed: new Promise((resolve) => socket.on("close", (code, reason) => resolve({ code, reason: String(reason) }))),
      send(frame) { socket.send(JSON.stringify(frame)); },
      close(code, reason = "") { socket.close(code, reason); },
      next(ms = 3000) {
        if (conn.messages.length) return Promise.resolve(conn.messages.shift());
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no message within ${ms} ms`)), ms);
          conn.readers.push((m) => { clearTimeout(timer); resolve(m); });
        });
      },
      get token() {
        const p = conn.protocols.find((x) => x.startsWith("bearer."));
        return p ? p.slice("bearer.".length) : null;
      },
    };
    socket.on("message", (data) => {
      const m = JSON.parse(String(data));
      const reader = conn.readers.shift();
      if (reader) reader(m); else conn.messages.push(m);
    });
    counter++;
    if (welcome) conn.send({ event: "welcome", payload: { conn_id: `fake-${counter}`, user_id: "alice", server: "fake" } });
    conns.push(conn);
    const w = waiting.shift();
    if (w) w(conn);
  });
  let taken = 0;
  return {
    url: `ws://127.0.0.1:${wss.address().port}/ws`,
    conns,
    // The next connection not yet handed out by nextConn().
    nextConn(ms = 5000) {
      if (taken < conns.length) return Promise.resolve(conns[taken++]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no connection within ${ms} ms`)), ms);
        waiting.push((c) => { clearTimeout(timer); taken++; resolve(c); });
      });
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

// An unsigned-looking JWT with the given claims (the client never verifies; tests of the real
// server sign with signJwt).
export function fakeJwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}.c2ln`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(predicate, ms = 5000, what = "condition") {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}
