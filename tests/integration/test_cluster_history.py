"""History and recovery in cluster mode (SPEC 4.3 and 6, docs/CLUSTER.md): two real nodes (two
event loops each) on a real Redis. A history room's messages get their offsets in Redis, so
members on both nodes see the same offsets, in order, whoever sent them from whichever node; a
client that comes back — to the same node or the other one, or after both nodes restarted —
recovers exactly what it missed; Redis losing its data is a new epoch (`ok: false`). The
server API reads the history from any node. A sender's frames keep their order around a history
message."""

import asyncio
import json
import time
import unittest

from dispatch_harness import (DispatchTestCase, expect_quiet, free_config, http_request,
                              open_client, recv_json, request, send_json)
from redis_server import RedisServer

API_KEY = "cluster-history-api-key-0123456789abcdef"

EVENTS = {
    "join": {"actions": [{"name": "_join", "params": ["{$user.id}", "{$target.id}", "connection"]}]},
    "say": {"actions": [{"name": "_notify_room", "params": ["said", "{.payload}"]}]},
    "tell": {"actions": [{"name": "_notify_user", "params": ["{.payload.user}", "told", "{.payload}"]}]},
}
ROOMS = {"chat:*": {"history": {"size": 1000, "ttl": "10m"}}}


def eventually(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


async def join(ws, room, since=None, ref="join"):
    message = {"event": "join", "target": room, "id": ref}
    if since is not None:
        message["since"] = since
    frames = await request(ws, message, timeout=5)
    assert frames[-1]["event"] == "ack", frames
    return frames[:-1], frames[-1]["payload"]


async def say(ws, room, payload, ref):
    frames = await request(ws, {"event": "say", "target": room, "payload": payload, "id": ref},
                           timeout=5)
    assert frames[-1]["event"] == "ack", frames
    return frames[:-1]


class TwoNodes(DispatchTestCase):
    def setUp(self):
        super().setUp()
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        self.config = free_config(
            EVENTS, rooms=ROOMS, api={"key": API_KEY}, server={"threads": 2},
            extra=f"cluster:\n  redis: {json.dumps(self.redis.url)}\n")
        self.a = self.start_server(self.config)
        self.b = self.start_server(self.config)
        self.ready(self.a, self.b)

    def ready(self, *nodes):
        for node in nodes:
            eventually(lambda node=node: http_request(node.port, "GET", "/readyz").status == 200,
                       "node ready")

    def test_members_on_both_nodes_see_one_order_of_offsets(self):
        async def go():
            members = [await open_client(node, f"m{i}") for i, node in
                       enumerate((self.a, self.b, self.a, self.b))]
            for ws in members:
                await join(ws, "chat:order")
            senders = [await open_client(node, f"s{i}") for i, node in
                       enumerate((self.a, self.b, self.a, self.b))]
            per_sender = 40

            async def blast(ws, index):
                for n in range(per_sender):
                    await send_json(ws, {"event": "say", "target": "chat:order",
                                         "payload": {"s": index, "n": n}})

            await asyncio.gather(*(blast(ws, i) for i, ws in enumerate(senders)))
            total = per_sender * len(senders)
            seen = []
            for ws in members:
                frames = [await recv_json(ws, 5) for _ in range(total)]
                offsets = [f["offset"] for f in frames]
                self.assertEqual(offsets, list(range(1, total + 1)))
                self.assertEqual(len({f["epoch"] for f in frames}), 1)
                for s in range(len(senders)):
                    self.assertEqual([f["payload"]["n"] for f in frames if f["payload"]["s"] == s],
                                     list(range(per_sender)), "one sender's order")
                seen.append([(f["payload"]["s"], f["payload"]["n"]) for f in frames])
                await expect_quiet(ws)
            self.assertTrue(all(order == seen[0] for order in seen), "one order for everyone")
        self.arun(go(), timeout=60)

    def test_recovery_on_the_same_node_and_on_the_other_one(self):
        async def go():
            bob = await open_client(self.b, "bob")
            await join(bob, "chat:r")
            for node, other in ((self.a, self.b), (self.b, self.a)):
                ann = await open_client(node, "ann")
                await join(ann, "chat:r")
                first = (await say(bob, "chat:r", {"n": 0}, "first"))
                seen = await recv_json(ann)
                position = {"offset": seen["offset"], "epoch": seen["epoch"]}
                await ann.close()
                for n in range(1, 6):
                    await say(bob, "chat:r", {"n": n}, f"n{n}")
                response = http_request(
                    self.a.port, "POST", "/api/publish",
                    headers=[("Authorization", f"Bearer {API_KEY}"),
                             ("Content-Type", "application/json")],
                    body=json.dumps({"target": "room:chat:r", "event": "news",
                                     "payload": {"n": 6}}).encode())
                self.assertEqual(response.status, 200)
                # The API answers once the message is handed to Redis; wait until it is there.
                while (await recv_json(bob, 5))["payload"].get("n") != 6:
                    pass
                for back_to in (node, other):
                    ann = await open_client(back_to, "ann")
                    replay, ack = await join(ann, "chat:r", since={"chat:r": position})
                    self.assertEqual([f["payload"]["n"] for f in replay], [1, 2, 3, 4, 5, 6])
                    self.assertEqual([f["offset"] for f in replay],
                                     list(range(position["offset"] + 1, position["offset"] + 7)))
                    self.assertEqual(ack["recovered"], {"chat:r": {
                        "ok": True, "offset": position["offset"] + 6,
                        "epoch": position["epoch"]}})
                    live = await say(bob, "chat:r", {"n": "live"}, f"live-{back_to.port}")
                    frame = await recv_json(ann)
                    self.assertEqual(frame["payload"], {"n": "live"})
                    await ann.close()
                    position = {"offset": frame["offset"], "epoch": frame["epoch"]}
                    # The next round's recovery starts after this live message.
                    for n in range(1, 6):
                        await say(bob, "chat:r", {"n": n}, f"again-{back_to.port}-{n}")
                    await say(bob, "chat:r", {"n": 6}, f"again-{back_to.port}-6")
                # drain bob
                while True:
                    try:
                        await recv_json(bob, 0.3)
                    except AssertionError:
                        break
        self.arun(go(), timeout=60)

    def test_a_restart_of_both_nodes_loses_nothing_and_a_redis_restart_is_a_new_epoch(self):
        async def before():
            cy = await open_client(self.a, "cy")
            await join(cy, "chat:restart")
            frame = (await say(cy, "chat:restart", {"n": 1}, "one"))[0]
            return {"offset": frame["offset"], "epoch": frame["epoch"]}

        position = self.arun(before())
        self.a.restart()
        self.b.restart()
        self.ready(self.a, self.b)

        async def after_nodes_restart():
            dee = await open_client(self.b, "dee")
            await join(dee, "chat:restart")
            await say(dee, "chat:restart", {"n": 2}, "two")
            cy = await open_client(self.a, "cy")
            replay, ack = await join(cy, "chat:restart", since={"chat:restart": position})
            self.assertEqual([f["payload"]["n"] for f in replay], [2])
            self.assertTrue(ack["recovered"]["chat:restart"]["ok"])
            self.assertEqual(ack["recovered"]["chat:restart"]["epoch"], position["epoch"])
            return {"offset": replay[0]["offset"], "epoch": replay[0]["epoch"]}

        position = self.arun(after_nodes_restart())
        self.redis.kill()   # no persistence: its data is gone
        self.redis.start()
        self.ready(self.a, self.b)

        async def after_redis_restart():
            cy = await open_client(self.a, "cy")
            replay, ack = await join(cy, "chat:restart", since={"chat:restart": position})
            recovered = ack["recovered"]["chat:restart"]
            self.assertEqual(replay, [])
            self.assertFalse(recovered["ok"])
            self.assertNotEqual(recovered["epoch"], position["epoch"])
        self.arun(after_redis_restart())

    def test_a_join_with_last_n_on_either_node_gets_the_newest_messages_then_live_ones(self):
        async def go():
            bob = await open_client(self.b, "bob")
            await join(bob, "chat:last")
            said = []
            for n in range(1, 8):
                said.append((n, (await say(bob, "chat:last", {"n": n}, f"n{n}"))[0]["offset"]))
            for node, last in ((self.a, 3), (self.b, 3), (self.a, 100)):
                cat = await open_client(node, "cat")
                replay, ack = await join(cat, "chat:last", since={"chat:last": {"last": last}})
                self.assertEqual([(f["payload"]["n"], f["offset"]) for f in replay],
                                 said[-last:], (node.port, last))
                self.assertEqual(ack["positions"]["chat:last"]["offset"], said[-1][1])
                self.assertNotIn("recovered", ack)
                n = len(said) + 1
                said.append((n, (await say(bob, "chat:last", {"n": n}, f"n{n}"))[0]["offset"]))
                live = await recv_json(cat, 5)
                self.assertEqual((live["payload"]["n"], live["offset"]), said[-1])
                await expect_quiet(cat)
                await cat.close()
        self.arun(go(), timeout=60)

    def test_the_api_reads_history_from_any_node_and_room_info_has_the_position(self):
        async def go():
            eve = await open_client(self.a, "eve")
            await join(eve, "chat:api")
            frames = []
            for n in range(3):
                frames += await say(eve, "chat:api", {"n": n}, f"n{n}")
            for node in (self.a, self.b):
                history = http_request(node.port, "GET", "/api/rooms/chat:api/history?since=1",
                                       headers=[("Authorization", f"Bearer {API_KEY}")])
                self.assertEqual(history.status, 200)
                self.assertEqual(history.json(), {
                    "room": "chat:api", "offset": 3, "epoch": frames[0]["epoch"],
                    "complete": True, "messages": frames[1:]})
                info = http_request(node.port, "GET", "/api/rooms/chat:api",
                                    headers=[("Authorization", f"Bearer {API_KEY}")]).json()
                self.assertEqual((info["offset"], info["epoch"]), (3, frames[0]["epoch"]))
        self.arun(go())

    def test_a_senders_next_frame_comes_after_its_history_message(self):
        async def go():
            fay = await open_client(self.a, "fay")   # a member on the sender's own node
            await join(fay, "chat:next")
            gus = await open_client(self.a, "gus")
            for n in range(20):
                await send_json(gus, {"event": "say", "target": "chat:next", "payload": {"n": n}})
                await send_json(gus, {"event": "tell", "payload": {"user": "fay", "n": n}})
            events = [(f["event"], f["payload"]["n"]) for f in
                      [await recv_json(fay, 5) for _ in range(40)]]
            expected = [pair for n in range(20) for pair in (("said", n), ("told", n))]
            self.assertEqual(events, expected)
        self.arun(go(), timeout=30)


if __name__ == "__main__":
    unittest.main()
