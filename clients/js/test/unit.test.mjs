// Unit tests of dispatch-client against a scripted fake server (test/fake-server.mjs), built
// from dist/ (npm test builds first).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import vm from "node:vm";
import WebSocket from "ws";
import { DispatchClient, DispatchError, jwtExp } from "../dist/index.js";
import { fakeServer, fakeJwt, sleep, waitFor } from "./fake-server.mjs";

const fast = { WebSocket, minDelay: 20, maxDelay: 200, delayFloor: 5, stableAfter: 10_000 };

async function setup(t, options = {}, serverOptions = {}) {
  const server = await fakeServer(serverOptions);
  const client = new DispatchClient(server.url, { ...fast, getToken: () => "tok", ...options });
  t.after(async () => { await client.close(); await server.close(); });
  return { server, client };
}

test("connect: subprotocols carry the token, welcome resolves connect(), state events", async (t) => {
  const { server, client } = await setup(t, { getToken: async () => "abc.def.ghi" });
  const states = [];
  client.on("$state", (s, old) => states.push(`${old}->${s}`));
  let welcomed = null;
  client.on("welcome", (payload) => { welcomed = payload; });
  assert.equal(client.state, "closed");
  const welcome = await client.connect();
  const conn = await server.nextConn();
  assert.deepEqual(conn.protocols, ["dispatch.v1", "bearer.abc.def.ghi"]);
  assert.equal(welcome.user_id, "alice");
  assert.deepEqual(welcomed, welcome);
  assert.equal(client.state, "open");
  assert.deepEqual(states, ["closed->connecting", "connecting->open"]);
  await client.close();
  assert.equal(client.state, "closed");
  assert.deepEqual((await conn.closed).code, 1000);
});

test("send: numeric ids, ack resolves with its payload, error rejects with DispatchError fields", async (t) => {
  const { server, client } = await setup(t);
  await client.connect();
  const conn = await server.nextConn();
  const p1 = client.send("join_room", { target: "room:lobby", payload: { a: 1 } });
  const m1 = await conn.next();
  assert.deepEqual(Object.keys(m1).sort(), ["event", "id", "payload", "target"]);
  assert.equal(typeof m1.id, "number");
  conn.send({ event: "ack", payload: { ref: m1.id, extra: "x" } });
  assert.deepEqual(await p1, { ref: m1.id, extra: "x" });

  const p2 = client.send("send_message", { target: "room:lobby", payload: { message: "" } });
  const m2 = await conn.next();
  assert.ok(m2.id > m1.id);
  conn.send({ event: "error", payload: { code: "invalid_payload", message: "payload/message: too short", ref: m2.id, event: "send_message", path: "/message", rule: "minLength" } });
  const e2 = await p2.then(() => null, (e) => e);
  assert.ok(e2 instanceof DispatchError && e2 instanceof Error);
  assert.equal(e2.code, "invalid_payload");
  assert.equal(e2.message, "payload/message: too short");
  assert.equal(e2.ref, m2.id);
  assert.equal(e2.event, "send_message");
  assert.equal(e2.path, "/message");
  assert.equal(e2.rule, "minLength");

  const p3 = client.send("send_message", { target: "room:lobby" });
  const m3 = await conn.next();
  conn.send({ event: "error", payload: { code: "rate_limited", message: "retry in 5400 ms", ref: m3.id, event: "send_message", retry_after_ms: 5400 } });
  const e3 = await p3.catch((e) => e);
  assert.equal(e3.code, "rate_limited");
  assert.equal(e3.retryAfterMs, 5400);

  const p4 = client.send("greet");
  const m4 = await conn.next();
  conn.send({ event: "error", payload: { code: "missing_field", message: "needs payload.name", ref: m4.id, event: "greet", field: "payload.name" } });
  assert.equal((await p4.catch((e) => e)).field, "payload.name");

  // An error frame without a pending send is an ordinary `error` frame for the app.
  const seen = [];
  client.on("error", (payload, frame) => seen.push([payload.code, frame.event]));
  conn.send({ event: "error", payload: { code: "bad_json", message: "not JSON", ref: null, event: null } });
  await waitFor(() => seen.length === 1, 2000, "error frame");
  assert.deepEqual(seen, [["bad_json", "error"]]);
});

test("server frames reach on() handlers with (payload, frame); off/once/unsubscribe work", async (t) => {
  const { server, client } = await setup(t);
  await client.connect();
  const conn = await server.nextConn();
  const a = [], b = [], c = [];
  const unsubscribe = client.on("new_message", (p, f) => a.push([p.message, f.room, f.from]));
  const hb = (p) => b.push(p.message);
  client.on("new_message", hb);
  client.once("new_message", (p) => c.push(p.message));
  conn.send({ event: "new_message", payload: { message: "one" }, room: "room:lobby", from: "bob" });
  await waitFor(() => a.length === 1);
  unsubscribe();
  client.off("new_message", hb);
  conn.send({ event: "new_message", payload: { message: "two" }, room: "room:lobby", from: "bob" });
  conn.send({ event: "marker", payload: {} });
  await new Promise((r) => client.once("marker", r));
  assert.deepEqual(a, [["one", "room:lobby", "bob"]]);
  assert.deepEqual(b, ["one"]);
  assert.deepEqual(c, ["one"]);
});

test("ack timeout rejects with code timeout", async (t) => {
  const { server, client } = await setup(t, { ackTimeout: 150 });
  await client.connect();
  const conn = await server.nextConn();
  const started = Date.now();
  const error = await client.send("slow").catch((e) => e);
  assert.equal(error.code, "timeout");
  assert.equal(error.event, "slow");
  assert.ok(Date.now() - started >= 140);
  assert.equal((await conn.next()).event, "slow");
  // A per-send timeout overrides the option.
  const e2 = await client.send("slow", { timeout: 30 }).catch((e) => e);
  assert.equal(e2.code, "timeout");
});

test("a connection lost before the ack rejects with disconnected, then the client reconnects", async (t) => {
  const { server, client } = await setup(t);
  await client.connect();
  const conn = await server.nextConn();
  const disconnects = [];
  client.on("$disconnected", (d) => disconnects.push(d));
  const p = client.send("send_message", { target: "room:a" });
  await conn.next();
  conn.close(1001, "going away");
  const error = await p.catch((e) => e);
  assert.equal(error.code, "disconnected");
  assert.equal(error.closeCode, 1001);
  assert.deepEqual(disconnects, [{ code: 1001, reason: "going away", willReconnect: true }]);
  assert.equal(client.state, "reconnecting");
  await server.nextConn();
  await waitFor(() => client.state === "open", 3000, "open again");
});

test("backoff: full jitter within min(maxDelay, minDelay*2^attempt), growing, floored", async (t) => {
  // Every connection is closed right after its welcome: the attempt counter must keep growing
  // (it resets only after stableAfter).
  const server = await fakeServer();
  t.after(() => server.close());
  const run = async (random, count) => {
    const client = new DispatchClient(server.url, { WebSocket, minDelay: 20, maxDelay: 100, delayFloor: 5, stableAfter: 10_000, random, getToken: () => "t" });
    const delays = [];
    const times = [];
    client.on("$reconnecting", ({ delay }) => delays.push(delay));
    client.on("welcome", () => { times.push(Date.now()); });
    const onConn = (c) => c.close(4000, "timeout");
    client.connect();
    while (delays.length < count) {
      onConn(await server.nextConn());
    }
    await client.close();
    return { delays, times };
  };
  const top = await run(() => 0.999999, 5);
  assert.deepEqual(top.delays, [19, 39, 79, 99, 99]);
  for (let i = 1; i < top.times.length; i++) {
    assert.ok(top.times[i] - top.times[i - 1] >= top.delays[i - 1] - 2, `reconnect ${i} came after its delay`);
  }
  const bottom = await run(() => 0, 3);
  assert.deepEqual(bottom.delays, [5, 5, 5], "the floor applies");
  const half = await run(() => 0.5, 4);
  assert.deepEqual(half.delays, [10, 20, 40, 50]);
});

test("backoff resets only after a connection stayed open for stableAfter", async (t) => {
  const server = await fakeServer();
  const client = new DispatchClient(server.url, { WebSocket, minDelay: 20, maxDelay: 1000, delayFloor: 5, stableAfter: 150, random: () => 0.999999, getToken: () => "t" });
  t.after(async () => { await client.close(); await server.close(); });
  const delays = [];
  client.on("$reconnecting", ({ delay }) => delays.push(delay));
  client.connect();
  (await server.nextConn()).close(4000);
  (await server.nextConn()).close(4000);
  const stable = await server.nextConn();
  await sleep(300);
  stable.close(4000);
  await server.nextConn();
  assert.deepEqual(delays, [19, 39, 19]);
});

for (const [code, reason] of [[4001, "replaced by newer connection"], [4003, "kicked"], [4403, "forbidden"], [1008, "too many errors"]]) {
  test(`no reconnect after close code ${code}`, async (t) => {
    const { server, client } = await setup(t);
    await client.connect();
    const conn = await server.nextConn();
    const events = [];
    client.on("$disconnected", (d) => events.push(["disconnected", d]));
    client.on("$closed", (d) => events.push(["closed", d]));
    const pending = client.send("x");
    await conn.next();
    conn.close(code, reason);
    assert.equal((await pending.catch((e) => e)).code, "disconnected");
    await waitFor(() => client.state === "closed", 2000, "closed");
    assert.deepEqual(events, [["disconnected", { code, reason, willReconnect: false }], ["closed", { code, reason }]]);
    await sleep(250);
    assert.equal(server.conns.length, 1, "no new connection");
    const after = await client.send("y").catch((e) => e);
    assert.equal(after.code, "closed");
  });
}

test("4401 (token expired): getToken is called again and the new token is used", async (t) => {
  let n = 0;
  const { server, client } = await setup(t, { getToken: () => `token-${++n}` });
  await client.connect();
  const first = await server.nextConn();
  assert.equal(first.token, "token-1");
  first.close(4401, "token expired");
  const second = await server.nextConn();
  assert.equal(second.token, "token-2");
  await waitFor(() => client.state === "open");
});

test("getToken failing: $error code token, then a retry with backoff", async (t) => {
  let calls = 0;
  const { server, client } = await setup(t, { getToken: async () => { calls++; if (calls === 1) throw new Error("auth backend down"); if (calls === 2) return undefined; return "good"; } });
  const errors = [];
  client.on("$error", (e) => errors.push(e));
  await client.connect();
  assert.deepEqual(errors.map((e) => e.code), ["token", "token"]);
  assert.match(errors[0].message, /auth backend down/);
  assert.match(errors[1].message, /non-empty string/);
  assert.equal((await server.nextConn()).token, "good");
  assert.equal(server.conns.length, 1);
});

test("refresh: _refresh is sent before exp with the new token, then rescheduled from the new exp", async (t) => {
  const now = () => Math.floor(Date.now() / 1000);
  const tokens = [];
  const getToken = () => { const tok = fakeJwt({ sub: "alice", exp: now() + 6 + tokens.length }); tokens.push(tok); return tok; };
  const { server, client } = await setup(t, { getToken, refreshRatio: 0.8, refreshLeadMs: 5000 });
  const started = Date.now();
  await client.connect();
  const conn = await server.nextConn();
  assert.equal(conn.token, tokens[0]);
  const m1 = await conn.next(3000);
  assert.equal(m1.event, "_refresh");
  assert.equal(m1.payload.token, tokens[1]);
  assert.ok(jwtExp(m1.payload.token) > jwtExp(tokens[0]));
  assert.ok(Date.now() - started < jwtExp(tokens[0]) * 1000 - started - 4000, "at least 5 s before exp (with 1 s of slack)");
  conn.send({ event: "ack", payload: { ref: m1.id } });
  const m2 = await conn.next(3000);
  assert.equal(m2.event, "_refresh");
  assert.equal(m2.payload.token, tokens[2]);
  // A refused refresh is reported as $error; the client stays connected.
  const errors = [];
  client.on("$error", (e) => errors.push(e));
  conn.send({ event: "error", payload: { code: "invalid_token", message: "bad token", ref: m2.id, event: "_refresh" } });
  await waitFor(() => errors.length === 1, 2000, "$error");
  assert.equal(errors[0].code, "invalid_token");
  assert.equal(client.state, "open");
});

test("rejoin is re-sent after reconnect with since from tracked offsets; duplicates dropped; queued sends follow", async (t) => {
  // Reconnects wait at least 200 ms, so that a send can be queued while reconnecting.
  const { server, client } = await setup(t, { minDelay: 300, maxDelay: 400, delayFloor: 200 });
  await client.connect();
  const c1 = await server.nextConn();
  const join = client.send("join_room", { target: "room:x", payload: { nick: "al" }, rejoin: true });
  const j1 = await c1.next();
  assert.equal(j1.since, undefined);
  c1.send({ event: "ack", payload: { ref: j1.id, positions: { "room:x": { offset: 5, epoch: "e1" } } } });
  await join;
  assert.deepEqual(client.position("room:x"), { offset: 5, epoch: "e1" });

  const got = [];
  client.on("msg", (p, f) => got.push(f.offset));
  const frame = (offset, epoch = "e1") => ({ event: "msg", payload: { n: offset }, room: "room:x", from: "bob", offset, epoch });
  c1.send(frame(5)); // already covered by the join's position
  c1.send(frame(6));
  c1.send(frame(6)); // duplicate
  c1.send(frame(4)); // older
  c1.send(frame(7));
  c1.send({ event: "marker", payload: {} });
  await new Promise((r) => client.once("marker", r));
  assert.deepEqual(got, [6, 7]);

  c1.close(1001, "going away");
  await waitFor(() => client.state === "reconnecting", 2000, "reconnecting");
  const queued = client.send("send_message", { target: "room:x", payload: { message: "while away" } });
  const recovered = [];
  client.on("$recovered", (room, pos) => recovered.push([room, pos]));
  const c2 = await server.nextConn();
  const j2 = await c2.next();
  assert.deepEqual({ ...j2, id: 0 }, { event: "join_room", target: "room:x", payload: { nick: "al" }, since: { "room:x": { offset: 7, epoch: "e1" } }, id: 0 });
  const q = await c2.next();
  assert.equal(q.event, "send_message");
  assert.ok(q.id > j2.id);
  c2.send(frame(7)); // replay overlap: dropped
  c2.send(frame(8)); // missed while away
  c2.send({ event: "ack", payload: { ref: j2.id, recovered: { "room:x": { ok: true, offset: 8, epoch: "e1" } } } });
  c2.send({ event: "ack", payload: { ref: q.id } });
  await queued;
  assert.deepEqual(got, [6, 7, 8]);
  assert.deepEqual(recovered, [["room:x", { offset: 8, epoch: "e1" }]]);

  // Recovery refused: reset is emitted and the room's new position is taken.
  const resets = [];
  client.on("$reset", (room, pos) => resets.push([room, pos]));
  c2.close(4000, "timeout");
  const c3 = await server.nextConn();
  const j3 = await c3.next();
  assert.deepEqual(j3.since, { "room:x": { offset: 8, epoch: "e1" } });
  c3.send({ event: "ack", payload: { ref: j3.id, recovered: { "room:x": { ok: false, offset: 2, epoch: "e2" } } } });
  await waitFor(() => resets.length === 1, 2000, "$reset");
  assert.deepEqual(resets, [["room:x", { offset: 2, epoch: "e2" }]]);
  c3.send(frame(3, "e2"));
  c3.send({ event: "marker", payload: {} });
  await new Promise((r) => client.once("marker", r));
  assert.deepEqual(got, [6, 7, 8, 3]);

  // forget() stops the rejoin.
  client.forget("room:x");
  c3.close(4000);
  const c4 = await server.nextConn();
  const probe = client.send("probe");
  assert.equal((await c4.next()).event, "probe");
  c4.send({ event: "ack", payload: { ref: 0 } });
  void probe.catch(() => {});
});

test("a rejoin refused by the server is not remembered", async (t) => {
  const { server, client } = await setup(t);
  await client.connect();
  const c1 = await server.nextConn();
  const p = client.send("join_room", { target: "room:secret", rejoin: true });
  const m = await c1.next();
  c1.send({ event: "error", payload: { code: "forbidden", message: "no", ref: m.id, event: "join_room" } });
  assert.equal((await p.catch((e) => e)).code, "forbidden");
  c1.close(4000);
  const c2 = await server.nextConn();
  client.send("probe").catch(() => {});
  assert.equal((await c2.next()).event, "probe");
});

test("queue: bounded while not open, sent in order after welcome, rejected with closed on close()", async (t) => {
  const { server, client } = await setup(t, { queueLimit: 3, minDelay: 300, maxDelay: 400, delayFloor: 200 });
  const results = [];
  const sends = [1, 2, 3].map((n) => client.send("m", { payload: n }).then((p) => results.push(p.ref)));
  const overflow = await client.send("m", { payload: 4 }).catch((e) => e);
  assert.equal(overflow.code, "queue_full");
  assert.equal(client.state, "closed", "nothing connects before connect()");
  client.connect();
  const conn = await server.nextConn();
  const got = [await conn.next(), await conn.next(), await conn.next()];
  assert.deepEqual(got.map((m) => m.payload), [1, 2, 3]);
  for (const m of got) conn.send({ event: "ack", payload: { ref: m.id } });
  await Promise.all(sends);
  assert.deepEqual(results, got.map((m) => m.id));

  conn.close(4000);
  await waitFor(() => client.state === "reconnecting");
  const late = [client.send("late1"), client.send("late2")];
  await client.close();
  for (const p of late) assert.equal((await p.catch((e) => e)).code, "closed");
});

test("without a WebSocket implementation the constructor says what to do", () => {
  const saved = globalThis.WebSocket;
  try {
    delete globalThis.WebSocket;
    assert.throws(() => new DispatchClient("ws://127.0.0.1:1/ws"), (e) => e instanceof TypeError && /pass one.*"ws" package/.test(e.message));
  } finally {
    if (saved) globalThis.WebSocket = saved;
  }
});

test("the browser bundle exposes window.DispatchClient", () => {
  const code = fs.readFileSync(new URL("../dist/dispatch-client.browser.js", import.meta.url), "utf8");
  class FakeWS { constructor() { this.readyState = 0; } send() {} close() {} }
  const window = { WebSocket: FakeWS, setTimeout, clearTimeout, TextDecoder, atob };
  window.window = window;
  window.globalThis = window;
  vm.runInNewContext(code, window);
  assert.equal(typeof window.DispatchClient.DispatchClient, "function");
  assert.equal(typeof window.DispatchClient.DispatchError, "function");
  const client = new window.DispatchClient.DispatchClient("ws://x/ws");
  assert.equal(client.state, "closed");
});
