"""Presence (SPEC 4.3, docs/PROTOCOL.md "Presence") on the real binary: rooms under a
`presence: true` policy know their distinct users and member connections — `_presence` answers
them to the sender, the server API's room info lists the users — on one node with two event loops
and across two cluster nodes on a real Redis, where a crashed node's members drop out after its
lease. Join and leave notices are config: hooks.on_join / on_leave with `_notify_room`."""

import asyncio
import json
import time
import unittest

from dispatch_harness import (DispatchTestCase, expect_error, expect_quiet, free_config,
                              http_request, open_client, recv_json, request, send_json)
from redis_server import RedisServer

API_KEY = "presence-test-api-key-0123456789abcdef"

EVENTS = {
    "join": {"actions": [{"name": "_join", "params": ["{$user.id}", "{$target.id}"]}]},
    "join_here": {"actions": [{"name": "_join", "params": ["{$user.id}", "{$target.id}",
                                                           "connection"]}]},
    "leave": {"actions": [{"name": "_leave", "params": ["{$user.id}", "{$target.id}"]}]},
    "who": {"actions": [{"name": "_presence", "params": ["{$target.id}"]}]},
    "join_and_who": {"actions": [
        {"name": "_join", "params": ["{$user.id}", "{$target.id}"]},
        {"name": "_presence", "params": ["{$target.id}"]},
    ]},
}
ROOMS = {"chat:*": {"presence": True}, "plain:*": {}}
HOOKS = {
    "on_join": [{"name": "_notify_room", "params": ["user_joined", '{"user": "{$user.id}"}']}],
    "on_leave": [{"name": "_notify_room", "params": ["user_left", '{"user": "{$user.id}"}']}],
}


def config(extra="", **kw):
    return free_config(EVENTS, rooms=ROOMS, api={"key": API_KEY}, server={"threads": 2},
                       extra=extra, **kw)


async def presence(ws, room, ref="who"):
    frames = await request(ws, {"event": "who", "target": room, "id": ref})
    assert [f["event"] for f in frames] == ["presence", "ack"], frames
    assert frames[0]["payload"]["room"] == room, frames
    assert frames[0]["ref"] == ref, frames
    return frames[0]["payload"]


async def join(ws, room, event="join", ref="j"):
    frames = await request(ws, {"event": event, "target": room, "id": ref})
    assert frames[-1]["event"] == "ack", frames


def room_info(node, room):
    response = http_request(node.port, "GET", f"/api/rooms/{room}",
                            headers=[("Authorization", f"Bearer {API_KEY}")])
    assert response.status == 200, response
    return response.json()


def eventually(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


class OneNode(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(config())

    def test_users_and_connections_of_a_room_on_both_loops(self):
        async def go():
            # Connections land on both event loops; alice has two.
            alice1 = await open_client(self.server, "alice")
            alice2 = await open_client(self.server, "alice")
            bob = await open_client(self.server, "bob")
            carol = await open_client(self.server, "carol")   # not in the room
            self.assertEqual(await presence(carol, "chat:1"),
                             {"room": "chat:1", "users": [], "connections": 0})
            await join(alice1, "chat:1")    # joins both of alice's connections
            await join(bob, "chat:1")
            self.assertEqual(await presence(carol, "chat:1"),
                             {"room": "chat:1", "users": ["alice", "bob"], "connections": 3})
            await join(bob, "chat:1", ref="again")   # a member already: nothing changes
            self.assertEqual((await presence(alice2, "chat:1"))["connections"], 3)
            await alice2.close()
            payload = await presence(carol, "chat:1")
            self.assertEqual((payload["users"], payload["connections"]), (["alice", "bob"], 2))
            await join(bob, "chat:1", event="leave")
            self.assertEqual(await presence(carol, "chat:1"),
                             {"room": "chat:1", "users": ["alice"], "connections": 1})
            info = room_info(self.server, "chat:1")
            self.assertEqual((info["users"], info["user_count"], info["connection_count"]),
                             (["alice"], 1, 1))
        self.arun(go())

    def test_a_join_is_in_the_presence_answered_right_after_it(self):
        async def go():
            dan = await open_client(self.server, "dan")
            frames = await request(dan, {"event": "join_and_who", "target": "chat:2", "id": 1})
            self.assertEqual([f["event"] for f in frames], ["presence", "ack"])
            self.assertEqual(frames[0]["payload"],
                             {"room": "chat:2", "users": ["dan"], "connections": 1})
            erin = await open_client(self.server, "erin")
            await join(erin, "chat:2", event="join_here")
            self.assertEqual((await presence(dan, "chat:2"))["users"], ["dan", "erin"])
        self.arun(go())

    def test_a_room_without_presence_is_forbidden_and_names_the_fix(self):
        async def go():
            ws = await open_client(self.server, "frank")
            for room in ("plain:1", "other"):
                await send_json(ws, {"event": "who", "target": room, "id": 1})
                error = await expect_error(ws, "forbidden", ref=1, event="who")
                self.assertIn("presence: true", error["message"])
            await send_json(ws, {"event": "who", "target": "", "id": 2})
            await expect_error(ws, "bad_message", ref=2)
            await send_json(ws, {"event": "who", "target": "chat:" + "x" * 300, "id": 3})
            await expect_error(ws, "bad_message", ref=3)
            await expect_quiet(ws)
            info = room_info(self.server, "plain:1")
            self.assertNotIn("users", info)
        self.arun(go())


class JoinLeaveNotices(DispatchTestCase):
    """The documented config for join/leave notices: hooks.on_join / on_leave with
    `_notify_room` (their target is the room)."""

    def test_members_see_who_joins_and_leaves(self):
        server = self.start_server(free_config(EVENTS, rooms=ROOMS, hooks=HOOKS))

        async def go():
            gina = await open_client(server, "gina")
            await join(gina, "chat:n")
            self.assertEqual(await recv_json(gina),
                             {"event": "user_joined", "payload": {"user": "gina"},
                              "room": "chat:n", "from": "gina"})
            hal = await open_client(server, "hal")
            await join(hal, "chat:n")
            self.assertEqual((await recv_json(gina))["payload"], {"user": "hal"})
            await hal.close()
            self.assertEqual(await recv_json(gina),
                             {"event": "user_left", "payload": {"user": "hal"},
                              "room": "chat:n", "from": "hal"})
        self.arun(go())


class TwoNodes(DispatchTestCase):
    def setUp(self):
        super().setUp()
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        cluster = f"cluster:\n  redis: {json.dumps(self.redis.url)}\n  node_lease: 1s\n"
        self.a = self.start_server(config(cluster))
        self.b = self.start_server(config(cluster))
        for node in (self.a, self.b):
            eventually(lambda node=node: http_request(node.port, "GET", "/readyz").status == 200,
                       "node ready")

    def test_presence_counts_every_node_and_a_dead_nodes_members_expire(self):
        async def go():
            ann_a = await open_client(self.a, "ann")
            ann_b = await open_client(self.b, "ann")
            ben_b = await open_client(self.b, "ben")
            cal_a = await open_client(self.a, "cal")
            await join(ann_a, "chat:x")   # both of ann's connections, on both nodes
            await join(ben_b, "chat:x")
            await join(cal_a, "chat:x", event="join_here")

            async def settled(ws, expected):
                deadline = time.monotonic() + 5
                while True:   # a node writes its counts to Redis just after the join's ack
                    payload = await presence(ws, "chat:x")
                    if (payload["users"], payload["connections"]) == expected:
                        return
                    self.assertLess(time.monotonic(), deadline, payload)
                    await asyncio.sleep(0.05)

            await settled(ann_a, (["ann", "ben", "cal"], 4))
            await settled(ben_b, (["ann", "ben", "cal"], 4))
            info = room_info(self.b, "chat:x")
            self.assertEqual((info["users"], info["connection_count"]), (["ann", "ben", "cal"], 4))
            await join(ben_b, "chat:x", event="leave")
            await settled(ann_a, (["ann", "cal"], 3))
            self.a.kill()   # ann's and cal's connections on node a: gone after its 1s lease
            await settled(ann_b, (["ann"], 1))
        self.arun(go(), timeout=30)

    def test_presence_outlives_a_redis_restart_that_lost_its_data(self):
        async def go():
            ann = await open_client(self.a, "ann")
            ben = await open_client(self.b, "ben")
            cy = await open_client(self.b, "cy")
            for ws in (ann, ben, cy):
                await join(ws, "chat:r")

            async def settled(ws, expected, seconds=5):
                deadline = time.monotonic() + seconds
                while True:
                    payload = await presence(ws, "chat:r", ref="who-r")
                    if (payload["users"], payload["connections"]) == expected:
                        return
                    self.assertLess(time.monotonic(), deadline, payload)
                    await asyncio.sleep(0.05)

            await settled(ann, (["ann", "ben", "cy"], 3))
            self.redis.kill()   # its data is gone: no persistence
            await asyncio.sleep(0.3)
            await join(cy, "chat:r", event="leave")   # while Redis is away
            self.redis.start()
            for node in (self.a, self.b):
                eventually(lambda node=node: http_request(node.port, "GET", "/readyz").status == 200,
                           "node ready again")
            # Each node writes its lease and its members again: nobody connected is forgotten,
            # and the one who left meanwhile is not counted.
            await settled(ann, (["ann", "ben"], 2))
            await settled(ben, (["ann", "ben"], 2))
        self.arun(go(), timeout=30)


if __name__ == "__main__":
    unittest.main()
