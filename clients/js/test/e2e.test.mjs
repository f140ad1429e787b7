// End-to-end tests of dispatch-client against the real `dispatch` binary (DISPATCH_BIN).
// Each test starts what it needs; rooms `hist:*` keep history (recovery), `room:*` do not.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { DispatchError } from "../dist/index.js";
import { collect, makeClient, next, sleep, until } from "./waiting.mjs";
import { startDispatch, token, signJwt, cuttableProxy } from "./server.mjs";

const CONFIG = `
server:
  address: "127.0.0.1:\${PORT}"
  shutdown_grace: 1s
auth:
  jwt:
    secret: "\${DISPATCH_JWT_SECRET}"
    leeway: 0s
rooms:
  "hist:*": { history: { size: 100, ttl: 10m } }
events:
  join_room:
    actions:
      - { name: _join, params: ["{$user.id}", "{$target.id}", connection] }
  send_message:
    lint_ignore: [unguarded_room_send]
    schema:
      type: object
      required: [message]
      additionalProperties: false
      properties:
        message: { type: string, minLength: 1, maxLength: 20 }
    actions:
      - name: _notify_room
        params: ["new_message", '{"user": "{$user.id}", "message": "{.payload.message}"}']
  kick_me:
    actions:
      - { name: _disconnect, params: ["{$user.id}", "kicked"] }
`;

const clients = [];
const client = makeClient(clients);

let server;
after(async () => {
  for (const c of clients) await c.close();
  await server?.stop();
});

before(async () => {
  server = await startDispatch(CONFIG);
});

test("connect, welcome, send → ack, errors as DispatchError", async () => {
  const alice = client(server.url, { getToken: () => token("alice") });
  const welcome = await alice.connect();
  assert.equal(welcome.user_id, "alice");
  assert.match(welcome.conn_id, /-/);
  assert.equal(alice.state, "open");

  const ack = await alice.send("join_room", { target: "room:lobby" });
  assert.equal(typeof ack.ref, "number");

  const unknown = await alice.send("no_such_event", { target: "room:lobby" }).catch((e) => e);
  assert.ok(unknown instanceof DispatchError);
  assert.equal(unknown.code, "unknown_event");
  assert.equal(unknown.event, "no_such_event");
  assert.equal(typeof unknown.ref, "number");

  const invalid = await alice.send("send_message", { target: "room:lobby", payload: { message: "x".repeat(21) } }).catch((e) => e);
  assert.equal(invalid.code, "invalid_payload");
  assert.equal(invalid.path, "/message");
  assert.equal(invalid.rule, "maxLength");
  await alice.close();
  assert.equal(alice.state, "closed");
});

test("a room chat between two clients", async () => {
  const alice = client(server.url, { getToken: () => token("alice") });
  const bob = client(server.url, { getToken: () => token("bob") });
  await Promise.all([alice.connect(), bob.connect()]);
  await alice.send("join_room", { target: "room:chat" });
  await bob.send("join_room", { target: "room:chat" });
  const aliceGot = collect(alice, "new_message");
  const bobGot = collect(bob, "new_message");
  await alice.send("send_message", { target: "room:chat", payload: { message: "hi bob" } });
  await bob.send("send_message", { target: "room:chat", payload: { message: "hi alice" } });
  await until(() => aliceGot.length === 2 && bobGot.length === 2, 5000, "both messages at both");
  for (const got of [aliceGot, bobGot]) {
    assert.deepEqual(got.map((m) => [m.frame.from, m.payload.message, m.frame.room]),
      [["alice", "hi bob", "room:chat"], ["bob", "hi alice", "room:chat"]]);
  }
  await alice.close();
  await bob.close();
});

test("_disconnect (4003): no reconnect, state closed", async () => {
  let tokens = 0;
  const alice = client(server.url, { getToken: () => { tokens++; return token("alice"); } });
  await alice.connect();
  const disconnected = next(alice, "$disconnected");
  const closed = next(alice, "$closed");
  // Whether the ack or the close comes first is the server's business; either way it settles.
  const outcome = await alice.send("kick_me").then(() => "ack", (e) => e.code);
  assert.ok(["ack", "disconnected"].includes(outcome), outcome);
  assert.deepEqual((await disconnected)[0], { code: 4003, reason: "kicked", willReconnect: false });
  assert.deepEqual((await closed)[0], { code: 4003, reason: "kicked" });
  await sleep(600);
  assert.equal(alice.state, "closed");
  assert.equal(tokens, 1, "no second connect");
});

test("connection_limit cycle (4001): the replaced client does not reconnect", async () => {
  const cycling = await startDispatch(CONFIG.replace("    leeway: 0s\n", "    leeway: 0s\n  connection_limit: { max_per_user: 1, mode: cycle }\n"));
  after(() => cycling.stop());
  const first = client(cycling.url, { getToken: () => token("carol") });
  const second = client(cycling.url, { getToken: () => token("carol") });
  await first.connect();
  const closed = next(first, "$closed");
  await second.connect();
  assert.deepEqual((await closed)[0], { code: 4001, reason: "replaced by newer connection" });
  await sleep(500);
  assert.equal(first.state, "closed");
  assert.equal(second.state, "open", "no reconnect war between the two");
  await second.close();
});

test("4401 on expiry: reconnects with a fresh token from getToken", async () => {
  const issued = [];
  const alice = client(server.url, {
    refresh: false,
    getToken: () => { const t = token("alice", issued.length === 0 ? 2 : 3600); issued.push(t); return t; },
  });
  await alice.connect();
  await alice.send("join_room", { target: "room:exp", rejoin: true });
  const [d] = await next(alice, "$disconnected", 6000);
  assert.deepEqual(d, { code: 4401, reason: "token expired", willReconnect: true });
  await next(alice, "welcome", 5000);
  assert.equal(issued.length, 2);
  // The rejoin was re-sent: a message to the room comes back to alice.
  const got = collect(alice, "new_message");
  await alice.send("send_message", { target: "room:exp", payload: { message: "back" } });
  await until(() => got.length === 1, 3000, "own message after rejoin");
  await alice.close();
});

test("token refresh: _refresh keeps the connection past the first token's exp", async () => {
  const issued = [];
  const alice = client(server.url, {
    getToken: () => { const t = token("alice", issued.length === 0 ? 2 : 3600); issued.push(t); return t; },
  });
  const disconnects = collect(alice, "$disconnected");
  const errors = collect(alice, "$error");
  await alice.connect();
  await until(() => issued.length === 2, 3000, "getToken for the refresh");
  await sleep(3000); // past the first token's exp
  assert.deepEqual(disconnects, []);
  assert.deepEqual(errors, []);
  assert.equal(alice.state, "open");
  await alice.send("join_room", { target: "room:refresh" });
  await alice.close();
});

test("refused refresh: $error invalid_token, then 4401 at expiry and a reconnect", async () => {
  let calls = 0;
  const alice = client(server.url, {
    getToken: () => {
      calls++;
      if (calls === 1) return token("alice", 2);
      if (calls === 2) return signJwt({ sub: "alice", exp: Math.floor(Date.now() / 1000) + 3600 }, "wrong-secret-0123456789abcdef0123");
      return token("alice");
    },
  });
  const errors = [];
  alice.on("$error", (e) => errors.push(e));
  await alice.connect();
  await until(() => errors.length === 1, 3000, "$error");
  assert.equal(errors[0].code, "invalid_token");
  const [d] = await next(alice, "$disconnected", 5000);
  assert.equal(d.code, 4401);
  await next(alice, "welcome", 5000);
  assert.equal(calls, 3);
  await alice.close();
});

test("recovery: a lost connection rejoins with since and gets the missed messages once", async () => {
  const proxy = await cuttableProxy(server.port);
  after(() => proxy.close());
  const alice = client(proxy.url, { getToken: () => token("alice"), minDelay: 400, maxDelay: 500, delayFloor: 300 });
  const bob = client(server.url, { getToken: () => token("bob") });
  await Promise.all([alice.connect(), bob.connect()]);
  const got = collect(alice, "new_message");
  const joinAck = await alice.send("join_room", { target: "hist:1", rejoin: true });
  assert.equal(joinAck.positions["hist:1"].offset, 0);
  await bob.send("join_room", { target: "hist:1" });
  await bob.send("send_message", { target: "hist:1", payload: { message: "m1" } });
  await until(() => got.length === 1, 3000, "m1");
  const epoch = got[0].frame.epoch;
  assert.equal(got[0].frame.offset, 1);

  const recovered = next(alice, "$recovered", 5000);
  const reconnecting = next(alice, "$disconnected", 3000);
  proxy.target = null; // alice stays away until m2 and m3 are sent
  proxy.cut();
  await reconnecting;
  await bob.send("send_message", { target: "hist:1", payload: { message: "m2" } });
  await bob.send("send_message", { target: "hist:1", payload: { message: "m3" } });
  proxy.target = server.port;
  const [room, position] = await recovered;
  assert.equal(room, "hist:1");
  assert.deepEqual(position, { offset: 3, epoch });
  await bob.send("send_message", { target: "hist:1", payload: { message: "m4" } });
  await until(() => got.length >= 4, 3000, "m4");
  await sleep(100);
  assert.deepEqual(got.map((m) => [m.payload.message, m.frame.offset]), [["m1", 1], ["m2", 2], ["m3", 3], ["m4", 4]]);
  await alice.close();
  await bob.close();
});

test("history on join: since {last: N} gives the room's last messages, then rejoins recover by position", async () => {
  const proxy = await cuttableProxy(server.port);
  after(() => proxy.close());
  const bob = client(server.url, { getToken: () => token("bob") });
  await bob.connect();
  await bob.send("join_room", { target: "hist:last" });
  for (const message of ["a", "b", "c", "d"]) {
    await bob.send("send_message", { target: "hist:last", payload: { message } });
  }
  const carol = client(proxy.url, { getToken: () => token("carol"), minDelay: 300, maxDelay: 400, delayFloor: 200 });
  await carol.connect();
  const got = collect(carol, "new_message");
  const ack = await carol.send("join_room", { target: "hist:last", rejoin: true, since: { "hist:last": { last: 2 } } });
  assert.deepEqual(got.map((m) => [m.payload.message, m.frame.offset]), [["c", 3], ["d", 4]]);
  assert.equal(ack.positions["hist:last"].offset, 4);
  assert.deepEqual(carol.position("hist:last"), ack.positions["hist:last"]);

  // A cut: the rejoin asks from offset 4 (not the last 2 again) and gets only what is new.
  const recovered = next(carol, "$recovered", 5000);
  const lost = next(carol, "$disconnected", 3000);
  proxy.target = null; // carol stays away until "e" is sent
  proxy.cut();
  await lost;
  await bob.send("send_message", { target: "hist:last", payload: { message: "e" } });
  proxy.target = server.port;
  const [room, position] = await recovered;
  assert.equal(room, "hist:last");
  assert.equal(position.offset, 5);
  await until(() => got.length === 3, 3000, "e");
  assert.deepEqual(got.map((m) => m.payload.message), ["c", "d", "e"]);
  await carol.close();
  await bob.close();
});

// Last: it restarts the server (a new history epoch).
test("server restart on the same port: reconnect, rejoin re-sent, history reset", async () => {
  const alice = client(server.url, { getToken: () => token("alice") });
  await alice.connect();
  await alice.send("join_room", { target: "room:lobby", rejoin: true });
  await alice.send("join_room", { target: "hist:restart", rejoin: true });
  const got = collect(alice, "new_message");
  await alice.send("send_message", { target: "hist:restart", payload: { message: "before" } });
  await until(() => got.length === 1, 3000, "before");
  const states = collect(alice, "$state");
  const resets = [];
  alice.on("$reset", (room, pos) => resets.push([room, pos]));
  const d = next(alice, "$disconnected", 5000);
  await server.restart();
  assert.deepEqual((await d)[0], { code: 1001, reason: "going away", willReconnect: true });
  await until(() => alice.state === "open", 8000, "open again");
  // The rejoins were re-sent after welcome: messages alice sends now come back to her.
  await alice.send("send_message", { target: "room:lobby", payload: { message: "lobby" } });
  await alice.send("send_message", { target: "hist:restart", payload: { message: "after" } });
  await until(() => got.length === 3, 3000, "own messages after the rejoin");
  assert.deepEqual(got.map((m) => m.payload.message), ["before", "lobby", "after"]);
  assert.equal(resets.length, 1);
  assert.equal(resets[0][0], "hist:restart");
  assert.notEqual(resets[0][1].epoch, got[0].frame.epoch, "a restart is a new epoch");
  assert.ok(states.some((s) => s.payload === "reconnecting"));
  await alice.close();
});
