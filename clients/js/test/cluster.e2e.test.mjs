// End-to-end tests of dispatch-client against a real two-node cluster (DISPATCH_BIN) sharing a
// real Redis (/usr/bin/redis-server, or REDIS_SERVER_BIN; a missing one fails, never skips).
// Rooms `hist:*` keep history in Redis (recovery on any node), `pres:*` know their users.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { collect, makeClient, next, sleep, until } from "./waiting.mjs";
import { startDispatch, startRedis, token, cuttableProxy } from "./server.mjs";

const LEASE_MS = 2000;
const config = (redisUrl, prefix) => `
server:
  address: "127.0.0.1:\${PORT}"
  shutdown_grace: 1s
auth:
  jwt:
    secret: "\${DISPATCH_JWT_SECRET}"
    leeway: 0s
cluster:
  redis: ${redisUrl}
  prefix: ${prefix}
  node_lease: ${LEASE_MS / 1000}s
rooms:
  "hist:*": { history: { size: 100, ttl: 10m } }
  "pres:*": { presence: true }
events:
  join_room:
    actions:
      - { name: _join, params: ["{$user.id}", "{$target.id}", connection] }
  who:
    actions:
      - { name: _presence, params: ["{$target.id}"] }
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
`;

const clients = [];
const stoppers = []; // proxies and extra nodes, stopped in after() even when a test fails
const client = makeClient(clients);
// The node id part of a conn_id (`<node id>-<counter>`).
const nodeOf = (connId) => connId.slice(0, connId.lastIndexOf("-"));

// Sends `who` for `room` and resolves with the payload of the `presence` reply to it (its `ref`).
async function presence(c, room) {
  const replies = [];
  const off = c.on("presence", (payload, frame) => replies.push({ payload, frame }));
  try {
    const ack = await c.send("who", { target: room });
    await until(() => replies.some((r) => r.frame.ref === ack.ref), 2000, `presence reply to ${ack.ref}`);
    return replies.find((r) => r.frame.ref === ack.ref).payload;
  } finally {
    off();
  }
}

let redis, nodeA, nodeB, configText;
before(async () => {
  redis = await startRedis();
  configText = config(redis.url, `jsclient-${process.pid}-${Date.now()}`);
  [nodeA, nodeB] = await Promise.all([startDispatch(configText), startDispatch(configText)]);
});

after(async () => {
  for (const c of clients) await c.close();
  for (const stop of stoppers.reverse()) await stop();
  await nodeA?.stop();
  await nodeB?.stop();
  await redis?.stop();
});

test("recovery on the other node: missed messages once, in offset order, then newer ones", async () => {
  const proxy = await cuttableProxy(nodeA.port);
  stoppers.push(() => proxy.close());
  const alice = client(proxy.url, { getToken: () => token("alice"), minDelay: 400, maxDelay: 500, delayFloor: 300 });
  const bob = client(nodeB.url, { getToken: () => token("bob") });
  const [aliceWelcome, bobWelcome] = await Promise.all([alice.connect(), bob.connect()]);
  const [nodeIdA, nodeIdB] = [nodeOf(aliceWelcome.conn_id), nodeOf(bobWelcome.conn_id)];
  assert.notEqual(nodeIdA, nodeIdB, "alice and bob are on different nodes");

  const got = collect(alice, "new_message");
  const joinAck = await alice.send("join_room", { target: "hist:1", rejoin: true });
  assert.equal(joinAck.positions["hist:1"].offset, 0);
  await bob.send("join_room", { target: "hist:1" });
  await bob.send("send_message", { target: "hist:1", payload: { message: "m1" } });
  await until(() => got.length === 1, 3000, "m1 across nodes");
  const epoch = got[0].frame.epoch;
  assert.equal(typeof epoch, "string");
  assert.equal(got[0].frame.offset, 1);

  // Alice's connection is lost; she stays away until m2 and m3 are sent, then lands on node B.
  proxy.target = null;
  const welcomeAgain = next(alice, "welcome", 5000);
  const recovered = next(alice, "$recovered", 5000);
  const resets = collect(alice, "$reset");
  const lost = next(alice, "$disconnected", 3000);
  proxy.cut();
  assert.equal((await lost)[0].willReconnect, true);
  await bob.send("send_message", { target: "hist:1", payload: { message: "m2" } });
  await bob.send("send_message", { target: "hist:1", payload: { message: "m3" } });
  assert.equal(alice.state, "reconnecting");
  proxy.target = nodeB.port;
  const [welcome] = await welcomeAgain;
  assert.equal(nodeOf(welcome.conn_id), nodeIdB, "alice reconnected to node B");
  const [room, position] = await recovered;
  assert.equal(room, "hist:1");
  assert.deepEqual(position, { offset: 3, epoch });
  assert.deepEqual(resets, []);

  await bob.send("send_message", { target: "hist:1", payload: { message: "m4" } });
  await until(() => got.length >= 4, 3000, "m4");
  await sleep(150); // nothing more (no duplicate) arrives
  assert.deepEqual(got.map((m) => [m.payload.message, m.frame.offset, m.frame.epoch, m.frame.from]),
    [["m1", 1, epoch, "bob"], ["m2", 2, epoch, "bob"], ["m3", 3, epoch, "bob"], ["m4", 4, epoch, "bob"]]);
  await alice.close();
  await bob.close();
});

test("presence across nodes: distinct users and connections of both nodes", async () => {
  const alice = client(nodeA.url, { getToken: () => token("alice") });
  const bob = client(nodeB.url, { getToken: () => token("bob") });
  await Promise.all([alice.connect(), bob.connect()]);
  await alice.send("join_room", { target: "pres:1" });
  await bob.send("join_room", { target: "pres:1" });
  const both = { room: "pres:1", users: ["alice", "bob"], connections: 2 };
  assert.deepEqual(await presence(alice, "pres:1"), both, "asked on node A");
  assert.deepEqual(await presence(bob, "pres:1"), both, "asked on node B");

  // A second connection of alice, on node B: one more connection, still two distinct users.
  const alice2 = client(nodeB.url, { getToken: () => token("alice") });
  await alice2.connect();
  await alice2.send("join_room", { target: "pres:1" });
  assert.deepEqual(await presence(bob, "pres:1"), { ...both, connections: 3 });
  assert.deepEqual(await presence(alice, "pres:1"), { ...both, connections: 3 });

  // Bob leaves (closes): node A no longer counts him.
  await bob.close();
  await until(async () => (await presence(alice, "pres:1")).users.length === 1, 3000, "bob gone from presence");
  assert.deepEqual(await presence(alice, "pres:1"), { room: "pres:1", users: ["alice"], connections: 2 });
  await alice.close();
  await alice2.close();
});

test("presence after a node is killed (SIGKILL): its members drop out within the lease", async () => {
  // A node of its own, so the shared nodes stay up whatever the test order.
  const nodeC = await startDispatch(configText);
  stoppers.push(() => nodeC.stop());
  const alice = client(nodeA.url, { getToken: () => token("alice") });
  const bob = client(nodeC.url, { getToken: () => token("bob") });
  await Promise.all([alice.connect(), bob.connect()]);
  await alice.send("join_room", { target: "pres:dead" });
  await bob.send("join_room", { target: "pres:dead" });
  assert.deepEqual(await presence(alice, "pres:dead"), { room: "pres:dead", users: ["alice", "bob"], connections: 2 });

  const lost = next(bob, "$disconnected", 3000);
  const killedAt = Date.now();
  nodeC.child.kill("SIGKILL");
  await lost;
  await bob.close(); // no reconnect attempts to the dead port
  let last;
  await until(async () => {
    last = await presence(alice, "pres:dead");
    return last.users.length === 1;
  }, LEASE_MS + 8000, "bob's entries to expire with node C's lease");
  const elapsed = Date.now() - killedAt;
  assert.deepEqual(last, { room: "pres:dead", users: ["alice"], connections: 1 });
  assert.ok(elapsed <= LEASE_MS + 3000, `bob dropped out ${elapsed} ms after the kill (lease ${LEASE_MS} ms)`);
  await alice.close();
});

// Redis losing a room's history (a Redis restart without persistence, eviction, a flush) is a new
// epoch: a client that comes back is told `$reset`, with the new position, not `$recovered`.
test("history lost in Redis: the returning client gets $reset and the new epoch's messages", async () => {
  const proxy = await cuttableProxy(nodeA.port);
  stoppers.push(() => proxy.close());
  const alice = client(proxy.url, { getToken: () => token("alice"), minDelay: 400, maxDelay: 500, delayFloor: 300 });
  const bob = client(nodeB.url, { getToken: () => token("bob") });
  await Promise.all([alice.connect(), bob.connect()]);
  const got = collect(alice, "new_message");
  await alice.send("join_room", { target: "hist:lost", rejoin: true });
  await bob.send("join_room", { target: "hist:lost" });
  await bob.send("send_message", { target: "hist:lost", payload: { message: "old" } });
  await until(() => got.length === 1, 3000, "old");
  const oldEpoch = got[0].frame.epoch;

  proxy.target = null; // alice stays away until the history is gone
  const reset = next(alice, "$reset", 5000);
  const recovered = collect(alice, "$recovered");
  const lost = next(alice, "$disconnected", 3000);
  proxy.cut();
  await lost;
  const prefix = configText.match(/prefix: (\S+)/)[1];
  assert.equal(await redis.command("DEL", `${prefix}:history_meta:hist:lost`, `${prefix}:history:hist:lost`), ":2",
    "the room's history keys are where docs/CLUSTER.md says");
  assert.equal(alice.state, "reconnecting");
  proxy.target = nodeB.port;
  const [room, position] = await reset;
  assert.equal(room, "hist:lost");
  assert.notEqual(position.epoch, oldEpoch, "a new epoch");
  assert.deepEqual(recovered, []);
  await bob.send("send_message", { target: "hist:lost", payload: { message: "newer" } });
  await until(() => got.length >= 2, 3000, "newer");
  await sleep(150);
  // "newer" comes in the new epoch, right after the reset's position.
  assert.deepEqual(got.map((m) => m.payload.message), ["old", "newer"]);
  assert.equal(got[1].frame.epoch, position.epoch);
  assert.equal(got[1].frame.offset, position.offset + 1);
  await alice.close();
  await bob.close();
});

async function ready(node) {
  try { return (await fetch(`http://127.0.0.1:${node.port}/readyz`)).status === 200; } catch { return false; }
}

// Last: it restarts Redis (an empty one: no persistence), which every room's history loses.
test("Redis restarted without persistence: a client returning afterwards gets $reset", async () => {
  const proxy = await cuttableProxy(nodeA.port);
  stoppers.push(() => proxy.close());
  const alice = client(proxy.url, { getToken: () => token("alice"), minDelay: 400, maxDelay: 500, delayFloor: 300 });
  const bob = client(nodeB.url, { getToken: () => token("bob") });
  await Promise.all([alice.connect(), bob.connect()]);
  const got = collect(alice, "new_message");
  await alice.send("join_room", { target: "hist:redis", rejoin: true });
  await bob.send("join_room", { target: "hist:redis" });
  await bob.send("send_message", { target: "hist:redis", payload: { message: "before" } });
  await until(() => got.length === 1, 3000, "before");
  const oldEpoch = got[0].frame.epoch;

  const disconnects = collect(alice, "$disconnected").concat(collect(bob, "$disconnected"));
  const logFrom = [nodeA.output.length, nodeB.output.length];
  redis = await redis.restart();
  // Each node saw the old Redis go and connected both its connections (publish, subscribe) again.
  const reconnected = (node, from) => {
    const log = node.output.slice(from);
    return log.includes("redis connection lost") && log.split('"msg":"redis connected"').length - 1 >= 2;
  };
  await until(async () => reconnected(nodeA, logFrom[0]) && reconnected(nodeB, logFrom[1]) &&
    (await ready(nodeA)) && (await ready(nodeB)), 8000, "both nodes connected and ready on the new Redis");
  assert.deepEqual(disconnects, [], "no client connection dropped because of Redis");

  proxy.target = nodeB.port;
  const reset = next(alice, "$reset", 5000);
  const recovered = collect(alice, "$recovered");
  proxy.cut();
  const [room, position] = await reset;
  assert.equal(room, "hist:redis");
  assert.notEqual(position.epoch, oldEpoch, "a new epoch");
  assert.deepEqual(recovered, []);
  await bob.send("send_message", { target: "hist:redis", payload: { message: "after" } });
  await until(() => got.length >= 2, 3000, "after, across nodes on the new Redis");
  await sleep(150);
  assert.deepEqual(got.map((m) => m.payload.message), ["before", "after"]);
  assert.equal(got[1].frame.epoch, position.epoch);
  assert.equal(got[1].frame.offset, position.offset + 1);
  await alice.close();
  await bob.close();
});
