"""Cluster mode (SPEC 6, docs/CLUSTER.md): two and three real `dispatch` nodes on one real
`redis-server` (and two Redis shards), every node with two event loops, over real sockets.

What a user would notice: room, user and broadcast messages reach every recipient on every node
exactly once and in order; joins, leaves and disconnects of a user reach their connections on other
nodes, and a `_join`'s ack means the joined connections get what is published next; the server API
on any node reaches every node; connection and rate limits hold across nodes, and a crashed node's
connections stop counting after its lease; Redis killed and started again while clients are
connected drops no connection, keeps local delivery, makes /readyz answer 503 meanwhile, and
cross-node delivery comes back by itself with nothing delivered twice."""

import asyncio
import json
import threading
import time
import unittest

import websockets.exceptions

from dispatch_harness import (DispatchTestCase, check_error, expect_quiet, free_config,
                              http_request, open_client, recv_json, request, run_dispatch)
from redis_server import RedisServer

API_KEY = "cluster-test-api-key-0123456789abcdef"

EVENTS = {
    "join": {"actions": [{"name": "_join", "params": ["{$user.id}", "{$target.id}"]}]},
    "invite": {"actions": [
        {"name": "_join", "params": ["{.payload.user}", "{$target.id}"]},
        {"name": "_notify_room", "params": ["invited", "{.payload}"]},
    ]},
    "remove": {"actions": [{"name": "_leave", "params": ["{.payload.user}", "{$target.id}"]}]},
    "say": {"actions": [{"name": "_notify_room", "params": ["said", "{.payload}"]}]},
    "tell": {"actions": [{"name": "_notify_user", "params": ["{.payload.user}", "told", "{.payload}"]}]},
    "mine": {"actions": [{"name": "_notify_origin", "params": ["mine", "{.payload}"]}]},
    "shout": {"actions": [{"name": "_broadcast", "params": ["shouted", "{.payload}"]}]},
    "kick": {"actions": [{"name": "_disconnect", "params": ["{.payload.user}", "kicked"]}]},
    "ping": {"actions": [{"name": "_reply", "params": ["pong", "{}"]}]},
}


def cluster_config(redis_urls, events=None, *, auth=None, lease="10s", api=True, **kw) -> str:
    urls = ", ".join(json.dumps(url) for url in redis_urls)
    extra = f"cluster:\n  redis: [{urls}]\n  node_lease: {lease}\n"
    return free_config(events or EVENTS, auth=auth, api={"key": API_KEY} if api else None,
                       extra=extra, **kw)


def api_post(node, path, body):
    return http_request(node.port, "POST", path,
                        headers=[("Authorization", f"Bearer {API_KEY}"),
                                 ("Content-Type", "application/json")],
                        body=json.dumps(body).encode())


def status(node, path="/readyz") -> int:
    return http_request(node.port, "GET", path).status


def eventually(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


async def joined(ws, room, ref=1):
    frames = await request(ws, {"event": "join", "target": room, "id": ref})
    assert frames[-1]["event"] == "ack", frames


_markers = iter(range(1, 1 << 30))


async def expect_marker_next(sender, receivers):
    """Negative check across nodes: `sender` sends each (user, ws) of `receivers` a `told` marker
    by `_notify_user`; its next frame must be that marker. One sender's frames keep their order
    across nodes (SPEC 4), so anything that `sender` made reach it earlier — a duplicate, or a
    message for a room it is not in — would come first. (expect_quiet's round trip to the
    receiver's own node is no barrier for what is still on its way through Redis.)"""
    for user, ws in receivers:
        marker = next(_markers)
        await request(sender, {"event": "tell", "payload": {"user": user, "marker": marker},
                               "id": f"marker-{marker}"})
        frame = await recv_json(ws)
        assert frame.get("event") == "told" and frame["payload"].get("marker") == marker, frame


async def expect_closed(ws, code, timeout=5.0):
    try:
        frame = await asyncio.wait_for(ws.recv(), timeout)
        raise AssertionError(f"expected a close {code}, got a frame {frame!r}")
    except websockets.exceptions.ConnectionClosed:
        pass
    assert ws.close_code == code, (ws.close_code, ws.close_reason)


class ThreeNodes(DispatchTestCase):
    """One Redis, three nodes, shared by the tests of this class (each uses its own rooms and
    users)."""

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()
        cls.addClassCleanup(cls.redis.stop)
        config = cluster_config([cls.redis.url])
        cls.a = cls.start_class_server(config)
        cls.b = cls.start_class_server(config)
        cls.c = cls.start_class_server(config)
        for node in (cls.a, cls.b, cls.c):
            eventually(lambda node=node: status(node) == 200, "every node ready")

    def test_room_user_and_broadcast_messages_reach_every_node_once(self):
        async def go():
            alice = await open_client(self.a, "r-alice")
            bob = await open_client(self.b, "r-bob")
            carol_b = await open_client(self.b, "r-carol")
            carol_c = await open_client(self.c, "r-carol")
            dave = await open_client(self.c, "r-dave")  # in no room
            for ws in (alice, bob, carol_b, carol_c):
                await joined(ws, "r-lobby")

            frames = await request(alice, {"event": "say", "target": "r-lobby",
                                           "payload": {"n": 1}, "id": 2})
            said = {"event": "said", "payload": {"n": 1}, "room": "r-lobby", "from": "r-alice"}
            self.assertEqual(frames, [said, {"event": "ack", "payload": {"ref": 2}}])
            for ws in (bob, carol_b, carol_c):
                self.assertEqual(await recv_json(ws), said)
            await expect_quiet(alice)
            # Once each, and nothing for a non-member.
            await expect_marker_next(alice, [("r-bob", bob), ("r-dave", dave)])
            await expect_marker_next(alice, [("r-carol", carol_b)])
            self.assertEqual((await recv_json(carol_c))["event"], "told")  # the same marker

            await request(bob, {"event": "tell", "payload": {"user": "r-carol"}, "id": 3})
            told = {"event": "told", "payload": {"user": "r-carol"}, "from": "r-bob"}
            self.assertEqual(await recv_json(carol_b), told)
            self.assertEqual(await recv_json(carol_c), told)

            frames = await request(carol_c, {"event": "mine", "payload": {"x": 1}, "id": 4})
            self.assertEqual(frames[0], {"event": "mine", "payload": {"x": 1}})
            self.assertEqual(await recv_json(carol_b), {"event": "mine", "payload": {"x": 1}})

            frames = await request(dave, {"event": "shout", "payload": {"hi": 1}, "id": 5})
            shouted = {"event": "shouted", "payload": {"hi": 1}, "from": "r-dave"}
            self.assertEqual(frames[0], shouted)
            for ws in (alice, bob, carol_b, carol_c):
                self.assertEqual(await recv_json(ws), shouted)
            await expect_quiet(dave)
            await expect_marker_next(dave, [("r-alice", alice), ("r-bob", bob)])

        self.arun(go())

    def test_one_senders_messages_arrive_in_order_on_other_nodes(self):
        async def go():
            sender = await open_client(self.a, "o-sender")
            readers = [await open_client(node, f"o-reader-{i}")
                       for i, node in enumerate((self.b, self.c))]
            for ws in [sender] + readers:
                await joined(ws, "o-room")
            for n in range(200):
                await sender.send(json.dumps({"event": "say", "target": "o-room", "payload": n}))
            for ws in readers:
                got = [(await recv_json(ws, timeout=5))["payload"] for _ in range(200)]
                self.assertEqual(got, list(range(200)))
            await expect_marker_next(sender, [("o-reader-0", readers[0]),
                                              ("o-reader-1", readers[1])])

        self.arun(go(), timeout=60)

    def test_join_leave_and_disconnect_reach_the_users_connections_on_other_nodes(self):
        async def go():
            host = await open_client(self.a, "j-host")
            guest_b = await open_client(self.b, "j-guest")
            guest_c = await open_client(self.c, "j-guest")
            for i in range(10):  # fresh rooms: each join must wait for new subscriptions
                room = f"j-room-{i}"
                await joined(host, room)
                frames = await request(host, {"event": "invite", "target": room,
                                              "payload": {"user": "j-guest"}, "id": 2})
                self.assertEqual(frames[-1]["event"], "ack")
                invited = {"event": "invited", "payload": {"user": "j-guest"}, "room": room,
                           "from": "j-host"}
                # The step after the _join reaches the connections it added, on both nodes.
                self.assertEqual(await recv_json(guest_b), invited)
                self.assertEqual(await recv_json(guest_c), invited)

            await request(host, {"event": "remove", "target": "j-room-0",
                                 "payload": {"user": "j-guest"}, "id": 3})
            await request(host, {"event": "say", "target": "j-room-0", "payload": 0, "id": 4})
            await request(host, {"event": "say", "target": "j-room-1", "payload": 1, "id": 5})
            self.assertEqual((await recv_json(guest_b))["room"], "j-room-1")
            self.assertEqual((await recv_json(guest_c))["room"], "j-room-1")

            await request(host, {"event": "kick", "payload": {"user": "j-guest"}, "id": 6})
            await expect_closed(guest_b, 4003)
            await expect_closed(guest_c, 4003)
            await expect_quiet(host)

        self.arun(go(), timeout=60)

    def test_a_joiner_gets_what_another_node_publishes_right_after_its_ack(self):
        async def go():
            publisher = await open_client(self.a, "w-publisher")
            for i in range(20):
                room = f"w-room-{i}"
                joiner = await open_client(self.b if i % 2 else self.c, f"w-joiner-{i}")
                await joined(joiner, room)
                await request(publisher, {"event": "say", "target": room, "payload": i, "id": 1})
                self.assertEqual(await recv_json(joiner), {"event": "said", "payload": i,
                                                           "room": room, "from": "w-publisher"})
                await joiner.close()

        self.arun(go(), timeout=60)

    def test_a_user_gets_what_another_node_publishes_right_after_the_welcome(self):
        # A node subscribes to a user's channel when the user's first connection there opens, and
        # the welcome waits until Redis has confirmed it. With Redis kept busy for a second (a
        # script), the welcome comes once the script is over — not while Redis cannot have
        # confirmed anything (then a message published at once would not reach the user).
        busy = ("local t = redis.call('TIME') local start = t[1] * 1000000 + t[2] "
                "repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - start > 1000000 "
                "return 1")

        async def go():
            for i in range(12):
                user = f"u-fresh-{i}"
                node = self.b if i % 2 else self.c
                if i < 2:
                    blocker = threading.Thread(target=self.redis.command, args=("EVAL", busy, "0"))
                    blocker.start()
                    time.sleep(0.05)   # the script runs: Redis answers nothing else meanwhile
                    ws = await open_client(node, user)
                    blocker.join(0.5)
                    self.assertFalse(blocker.is_alive(), "the welcome came while Redis was busy")
                else:
                    ws = await open_client(node, user)
                answer = api_post(self.a, "/api/publish",
                                  {"target": f"user:{user}", "event": "dm", "payload": i})
                self.assertEqual(answer.status, 200, answer.body)
                self.assertEqual(await recv_json(ws), {"event": "dm", "payload": i}, user)
                await ws.close()

        self.arun(go(), timeout=60)

    def test_the_server_api_of_any_node_reaches_every_node(self):
        async def go():
            alice = await open_client(self.b, "p-alice")
            bob = await open_client(self.c, "p-bob")
            await joined(alice, "p-room")
            answer = api_post(self.a, "/api/publish",
                              [{"target": "room:p-room", "event": "news", "payload": 1},
                               {"target": "user:p-bob", "event": "dm", "payload": 2},
                               {"target": "*", "event": "all", "payload": 3}])
            self.assertEqual(answer.status, 200, answer.body)
            self.assertEqual(await recv_json(alice),
                             {"event": "news", "payload": 1, "room": "p-room"})
            self.assertEqual(await recv_json(bob), {"event": "dm", "payload": 2})
            self.assertEqual(await recv_json(alice), {"event": "all", "payload": 3})
            self.assertEqual(await recv_json(bob), {"event": "all", "payload": 3})
            answer = api_post(self.a, "/api/disconnect", {"user": "p-bob", "reason": "bye"})
            self.assertEqual(answer.status, 200, answer.body)
            await expect_closed(bob, 4003)
            await expect_quiet(alice)

        self.arun(go())

    def test_room_info_counts_the_members_on_every_node(self):
        async def go():
            alice_a = await open_client(self.a, "m-alice")
            alice_b = await open_client(self.b, "m-alice")
            bob = await open_client(self.c, "m-bob")
            for ws in (alice_a, alice_b, bob):
                await joined(ws, "m-room")
            ids = sorted(ws.welcome["payload"]["conn_id"] for ws in (alice_a, alice_b, bob))
            for node in (self.a, self.b, self.c):
                answer = http_request(node.port, "GET", "/api/rooms/m-room",
                                      headers=[("Authorization", f"Bearer {API_KEY}")])
                self.assertEqual(answer.status, 200, answer.body)
                info = answer.json()
                self.assertEqual((info["connection_count"], info["user_count"]), (3, 2))
                self.assertEqual(sorted(c["id"] for c in info["connections"]), ids)
            empty = http_request(self.a.port, "GET", "/api/rooms/m-nobody",
                                 headers=[("Authorization", f"Bearer {API_KEY}")]).json()
            self.assertEqual((empty["connection_count"], empty["connections"]), (0, []))

        self.arun(go())

    def test_nodes_subscribe_only_to_rooms_they_have_members_of(self):
        async def go():
            alice = await open_client(self.a, "s-alice")
            await joined(alice, "s-only-on-a")
            channels = self.redis.channels()
            self.assertIn("dispatch:room:s-only-on-a", channels)
            self.assertEqual(self.redis.command("PUBSUB", "NUMSUB", "dispatch:room:s-only-on-a"),
                             [b"dispatch:room:s-only-on-a", 1])
            await alice.close()
            eventually(lambda: "dispatch:room:s-only-on-a" not in self.redis.channels(),
                       "the last member gone, the node unsubscribes")

        self.arun(go())

    def test_cluster_series_in_metrics(self):
        text = http_request(self.a.port, "GET", "/metrics").body.decode()
        self.assertIn('dispatch_cluster_redis_up{shard="0"} 1', text)
        self.assertIn('dispatch_cluster_messages_total{direction="published"}', text)


class Limits(DispatchTestCase):
    def setUp(self):
        super().setUp()
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)

    def nodes(self, count=2, **auth):
        config = cluster_config([self.redis.url], auth=auth or None, lease="1s", events={
            **EVENTS,
            "limited": {"modifiers": [{"name": "rate_limit", "params": ["3/1m", "user"]}],
                        "actions": [{"name": "_reply", "params": ["ok", "{}"]}]},
            "local": {"modifiers": [{"name": "rate_limit", "params": ["3/1m", "user"],
                                     "scope": "node"}],
                      "actions": [{"name": "_reply", "params": ["ok", "{}"]}]},
        })
        return [self.start_server(config) for _ in range(count)]

    def test_max_per_user_rejects_across_nodes_and_counts_no_closed_connection(self):
        a, b = self.nodes(connection_limit={"max_per_user": 2})

        async def go():
            first = await open_client(a, "u")
            await open_client(b, "u")
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as refused:
                await open_client(b, "u")
            self.assertEqual(refused.exception.status_code, 429)
            await first.close()
            deadline = time.monotonic() + 5
            while True:  # the close is released in Redis asynchronously
                try:
                    await open_client(a, "u")
                    break
                except websockets.exceptions.InvalidStatusCode:
                    self.assertLess(time.monotonic(), deadline)
                    await asyncio.sleep(0.05)

        self.arun(go())

    def test_cycle_closes_the_oldest_connection_on_another_node(self):
        a, b = self.nodes(connection_limit={"max_per_user": 1, "mode": "cycle"})

        async def go():
            old = await open_client(a, "c")
            new = await open_client(b, "c")
            await expect_closed(old, 4001)
            self.assertEqual(old.close_reason, "replaced by newer connection")
            await expect_quiet(new)

        self.arun(go())

    def test_max_connections_per_ip_counts_every_node(self):
        a, b = self.nodes(max_connections_per_ip=2)

        async def go():
            await open_client(a, "i1")
            await open_client(b, "i2")
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as refused:
                await open_client(a, "i3")
            self.assertEqual(refused.exception.status_code, 429)

        self.arun(go())

    def test_a_crashed_nodes_connections_stop_counting_after_its_lease(self):
        a, b = self.nodes(connection_limit={"max_per_user": 1})

        async def go():
            await open_client(a, "k")
            with self.assertRaises(websockets.exceptions.InvalidStatusCode):
                await open_client(b, "k")
            a.kill()
            started = time.monotonic()
            while True:
                try:
                    await open_client(b, "k")
                    break
                except websockets.exceptions.InvalidStatusCode:
                    self.assertLess(time.monotonic() - started, 5, "lease 1s: within a few")
                    await asyncio.sleep(0.1)

        self.arun(go())

    def test_max_members_counts_distinct_users_on_every_node(self):
        config = cluster_config([self.redis.url], lease="1s", rooms={"club:*": {"max_members": 2}})
        a, b = self.start_server(config), self.start_server(config)

        async def go():
            alice_a = await open_client(a, "mm-alice")
            alice_b = await open_client(b, "mm-alice")
            bob = await open_client(b, "mm-bob")
            carol = await open_client(a, "mm-carol")
            await joined(alice_a, "club:1")
            await joined(alice_b, "club:1")  # the same user again: still one
            await joined(bob, "club:1")
            frames = await request(carol, {"event": "join", "target": "club:1", "id": 7})
            check_error(frames[-1], "room_full", ref=7, event="join")
            await bob.close()
            deadline = time.monotonic() + 5
            while True:  # bob's place is given back in Redis asynchronously
                frames = await request(carol, {"event": "join", "target": "club:1", "id": 9})
                if frames[-1]["event"] == "ack":
                    break
                check_error(frames[-1], "room_full")
                self.assertLess(time.monotonic(), deadline)
                await asyncio.sleep(0.05)
            await request(carol, {"event": "say", "target": "club:1", "payload": 2, "id": 10})
            self.assertEqual((await recv_json(alice_b))["payload"], 2)
            self.assertEqual((await recv_json(alice_a))["payload"], 2)

        self.arun(go())

    def test_rate_limit_counts_across_nodes_unless_scope_node(self):
        a, b = self.nodes()

        async def go():
            on_a = await open_client(a, "rl")
            on_b = await open_client(b, "rl")
            outcomes = []
            for i, ws in enumerate((on_a, on_b, on_a, on_b)):
                frames = await request(ws, {"event": "limited", "id": i})
                outcomes.append(frames[-1]["event"])
            self.assertEqual(outcomes, ["ack", "ack", "ack", "error"])
            error = check_error(frames[-1], "rate_limited", ref=3, event="limited")
            self.assertGreater(error["retry_after_ms"], 0)
            outcomes = []
            for i, ws in enumerate((on_a, on_b, on_a, on_b)):
                frames = await request(ws, {"event": "local", "id": 10 + i})
                outcomes.append(frames[-1]["event"])
            self.assertEqual(outcomes, ["ack", "ack", "ack", "ack"])  # 3 per node

        self.arun(go())


class RedisOutage(DispatchTestCase):
    def test_clients_stay_connected_and_delivery_resumes_by_itself(self):
        redis = RedisServer()
        self.addCleanup(redis.stop)
        config = cluster_config([redis.url])
        a = self.start_server(config)
        b = self.start_server(config)

        async def go():
            alice = await open_client(a, "alice")
            carol = await open_client(a, "carol")
            bob = await open_client(b, "bob")
            for ws in (alice, carol, bob):
                await joined(ws, "lobby")
            redis.kill()
            eventually(lambda: status(a) == 503 and status(b) == 503, "not ready without Redis")
            self.assertEqual(status(a, "/healthz"), 200)
            body = json.loads(http_request(a.port, "GET", "/readyz").body)
            self.assertEqual(body["status"], "not_ready")
            self.assertIn("not connected to Redis", body["reason"])
            # Local delivery goes on; a join completes at once.
            frames = await request(alice, {"event": "say", "target": "lobby", "payload": 1,
                                           "id": 2})
            self.assertEqual(frames[-1]["event"], "ack")
            self.assertEqual((await recv_json(carol))["payload"], 1)
            await joined(alice, "elsewhere", ref=3)
            await expect_quiet(bob)

            redis.start()
            eventually(lambda: status(a) == 200 and status(b) == 200, "ready again")
            await request(alice, {"event": "say", "target": "lobby", "payload": 2, "id": 4})
            self.assertEqual((await recv_json(carol))["payload"], 2)
            self.assertEqual((await recv_json(bob))["payload"], 2)
            await expect_quiet(carol)  # nothing twice, and every connection still open
            await expect_marker_next(alice, [("bob", bob)])
            self.assertIn("redis connection lost; reconnecting", a.output())

        self.arun(go(), timeout=60)


class RedisRestartWhileSending(DispatchTestCase):
    def test_a_steady_sender_through_an_outage_keeps_order_and_sends_nothing_twice(self):
        redis = RedisServer()
        self.addCleanup(redis.stop)
        config = cluster_config([redis.url])
        a = self.start_server(config)
        b = self.start_server(config)
        count = 300

        async def go():
            sender = await open_client(a, "steady")
            near = await open_client(a, "near")  # same node as the sender
            far = await open_client(b, "far")    # the other node: through Redis
            for ws in (sender, near, far):
                await joined(ws, "steady-room")

            async def send_all():
                for n in range(count):
                    if n == 100:
                        redis.kill()
                    if n == 180:
                        redis.start()
                        await asyncio.to_thread(eventually, lambda: status(a) == 200 and
                                                status(b) == 200, "ready again")
                    await sender.send(json.dumps({"event": "say", "target": "steady-room",
                                                  "payload": n}))
                    await asyncio.sleep(0.005)

            sending = asyncio.create_task(send_all())
            near_got = [(await recv_json(near, timeout=10))["payload"] for _ in range(count)]
            await sending
            self.assertEqual(near_got, list(range(count)))  # local delivery never stopped
            # The far member got a part: in order, nothing twice, the start and (once Redis was
            # back) the end. A marker from the sender ends what is on its way.
            far_got = []
            marker = {"event": "say", "target": "steady-room", "payload": "end", "id": "end"}
            await request(sender, marker)
            while True:
                frame = await recv_json(far, timeout=10)
                if frame["payload"] == "end":
                    break
                far_got.append(frame["payload"])
            self.assertEqual(far_got, sorted(set(far_got)), "in order and nothing twice")
            self.assertEqual(far_got[:50], list(range(50)), "before the outage")
            self.assertIn(count - 1, far_got, "after it")
            self.assertLess(len(far_got), count, "what was published meanwhile is lost")
            self.assertTrue(sender.open and near.open and far.open)

        self.arun(go(), timeout=90)


class Shards(DispatchTestCase):
    def test_rooms_spread_over_two_shards_and_one_shard_fails_alone(self):
        first, second = RedisServer(), RedisServer()
        self.addCleanup(first.stop)
        self.addCleanup(second.stop)
        config = cluster_config([first.url, second.url])
        a = self.start_server(config)
        b = self.start_server(config)
        rooms = [f"shard-room-{i}" for i in range(8)]

        async def go():
            sender = await open_client(a, "sender")
            reader = await open_client(b, "reader")
            for i, room in enumerate(rooms):
                await joined(sender, room, ref=i)
                await joined(reader, room, ref=i)
            on_first = {r for r in rooms if f"dispatch:room:{r}" in first.channels()}
            on_second = {r for r in rooms if f"dispatch:room:{r}" in second.channels()}
            self.assertEqual(on_first | on_second, set(rooms))
            self.assertFalse(on_first & on_second, "each room on one shard")
            self.assertTrue(on_first and on_second, "rooms on both shards")
            for room in rooms:
                await request(sender, {"event": "say", "target": room, "payload": room, "id": 9})
                self.assertEqual((await recv_json(reader))["payload"], room)

            second.kill()
            eventually(lambda: status(a) == 503, "a shard down: not ready")
            for room in sorted(on_first):  # the other shard's rooms still work across nodes
                await request(sender, {"event": "say", "target": room, "payload": room, "id": 9})
                self.assertEqual((await recv_json(reader))["payload"], room)
            await expect_quiet(reader)

        self.arun(go(), timeout=60)


class Configuration(DispatchTestCase):
    def test_bad_redis_urls_are_config_errors(self):
        result = run_dispatch(["check", "--config", "{config}"],
                              cluster_config(["http://127.0.0.1:6379"]))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("`cluster.redis[0]`: the scheme must be redis://", result.stdout + result.stderr)

    def test_a_password_in_the_url_is_used_and_never_printed(self):
        redis = RedisServer(password="pw-0123456789")
        self.addCleanup(redis.stop)
        good = self.start_server(cluster_config([redis.url]))
        eventually(lambda: status(good) == 200, "connected with the password")
        wrong = self.start_server(cluster_config([redis.url.replace("pw-0123456789", "nope-nope")]))
        deadline = time.monotonic() + 5
        while "redis AUTH refused" not in wrong.output():
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertEqual(status(wrong), 503)
        for node in (good, wrong):
            self.assertNotIn("pw-0123456789", node.output())
            self.assertNotIn("nope-nope", node.output())


if __name__ == "__main__":
    unittest.main()
