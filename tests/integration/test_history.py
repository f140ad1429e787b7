"""History and recovery (SPEC 4.3, docs/PROTOCOL.md "History and recovery") on the real binary,
one node with two event loops: every message of a history room carries its offset and the room's
epoch; a client that comes back with `since` gets exactly the messages it missed, in order, before
anything newer and never twice, and the `ack` says `recovered`; a gap no longer kept, an expired
one or another epoch (a restart) says `ok: false`. Senders on both loops at once still reach every
member in offset order. The server API lists a room's offset and epoch and its kept messages.
Every bad form of `since` is answered with `bad_message`."""

import asyncio
import json
import time
import unittest

from dispatch_harness import (DispatchTestCase, expect_error, expect_quiet, free_config,
                              http_request, open_client, recv_json, request, send_json)

API_KEY = "history-test-api-key-0123456789abcdef"

EVENTS = {
    "join": {"actions": [{"name": "_join", "params": ["{$user.id}", "{$target.id}", "connection"]}]},
    "join_user": {"actions": [{"name": "_join", "params": ["{$user.id}", "{$target.id}"]}]},
    "say": {"actions": [{"name": "_notify_room", "params": ["said", "{.payload}"]}]},
    "join_and_say": {"actions": [
        {"name": "_join", "params": ["{$user.id}", "{$target.id}", "connection"]},
        {"name": "_notify_room", "params": ["said", '{"hello": "{$user.id}"}']},
    ]},
}
ROOMS = {
    "chat:*": {"history": {"size": 50, "ttl": "10m"}},
    "small:*": {"history": {"size": 3}},
    "brief:*": {"history": {"size": 50, "ttl": "1s"}},
    "big:*": {"history": {"size": 10000}},
}


def history_config(**kw):
    return free_config(EVENTS, rooms=ROOMS, api={"key": API_KEY},
                       server={"threads": 2, "error_budget": "200/10s"}, **kw)


def api_get(server, path):
    return http_request(server.port, "GET", path,
                        headers=[("Authorization", f"Bearer {API_KEY}")])


async def join(ws, room, since=None, ref="join", event="join"):
    message = {"event": event, "target": room, "id": ref}
    if since is not None:
        message["since"] = since
    frames = await request(ws, message)
    assert frames[-1]["event"] == "ack", frames
    return frames[:-1], frames[-1]["payload"]


async def say(ws, room, n, ref=None):
    frames = await request(ws, {"event": "say", "target": room, "payload": {"n": n},
                                "id": ref if ref is not None else f"say-{n}"})
    assert frames[-1]["event"] == "ack", frames
    return frames[:-1]


class History(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(history_config())

    def test_room_messages_carry_offsets_and_the_epoch(self):
        async def go():
            ann = await open_client(self.server, "ann")
            _, ack = await join(ann, "chat:offsets")
            start = ack["positions"]["chat:offsets"]
            self.assertEqual(set(start), {"offset", "epoch"})
            frames = []
            for n in range(3):
                frames += await say(ann, "chat:offsets", n)
            self.assertEqual([f["offset"] for f in frames],
                             [start["offset"] + 1, start["offset"] + 2, start["offset"] + 3])
            self.assertEqual({f["epoch"] for f in frames}, {start["epoch"]})
            self.assertEqual(list(frames[0]), ["event", "payload", "room", "from", "offset", "epoch"])
            # A room without a history policy: no offset.
            await join(ann, "plain:1")
            plain = await say(ann, "plain:1", 9)
            self.assertEqual(list(plain[0]), ["event", "payload", "room", "from"])
        self.arun(go())

    def test_a_returning_client_gets_exactly_what_it_missed_before_anything_newer(self):
        async def go():
            bob = await open_client(self.server, "bob")
            ann = await open_client(self.server, "ann")
            await join(bob, "chat:r")
            _, ack = await join(ann, "chat:r")
            await say(bob, "chat:r", 0)
            seen = await recv_json(ann)
            position = {"offset": seen["offset"], "epoch": seen["epoch"]}
            await ann.close()
            for n in range(1, 6):
                await say(bob, "chat:r", n)
            ann = await open_client(self.server, "ann")
            replay, ack = await join(ann, "chat:r", since={"chat:r": position})
            self.assertEqual([f["payload"]["n"] for f in replay], [1, 2, 3, 4, 5])
            self.assertEqual([f["offset"] for f in replay],
                             list(range(position["offset"] + 1, position["offset"] + 6)))
            self.assertEqual(ack["recovered"], {"chat:r": {
                "ok": True, "offset": position["offset"] + 5, "epoch": position["epoch"]}})
            self.assertNotIn("positions", ack)
            await say(bob, "chat:r", 6)
            live = await recv_json(ann)
            self.assertEqual((live["payload"]["n"], live["offset"]), (6, position["offset"] + 6))
            await expect_quiet(ann)
        self.arun(go())

    def test_recovery_and_a_message_in_the_same_steps_keep_their_order(self):
        async def go():
            bob = await open_client(self.server, "bob")
            await join(bob, "chat:same")
            first = (await say(bob, "chat:same", 0))[0]
            for n in range(1, 4):
                await say(bob, "chat:same", n)
            cy = await open_client(self.server, "cy")
            frames, ack = await join(cy, "chat:same", event="join_and_say",
                                     since={"chat:same": {"offset": first["offset"],
                                                          "epoch": first["epoch"]}})
            self.assertEqual([f["payload"] for f in frames],
                             [{"n": 1}, {"n": 2}, {"n": 3}, {"hello": "cy"}])
            self.assertEqual([f["offset"] for f in frames],
                             list(range(first["offset"] + 1, first["offset"] + 5)))
            self.assertTrue(ack["recovered"]["chat:same"]["ok"])
        self.arun(go())

    def test_a_lost_gap_another_epoch_or_a_future_offset_is_not_ok(self):
        async def go():
            bob = await open_client(self.server, "bob")
            await join(bob, "small:gap")
            first = (await say(bob, "small:gap", 0))[0]
            for n in range(1, 6):   # the room keeps 3
                await say(bob, "small:gap", n)
            epoch = first["epoch"]
            cases = [
                ({"offset": first["offset"], "epoch": epoch}, "gap"),
                ({"offset": first["offset"] + 5, "epoch": "another-epoch"}, "epoch"),
                ({"offset": first["offset"] + 99, "epoch": epoch}, "future"),
            ]
            for since, why in cases:
                dee = await open_client(self.server, "dee")
                replay, ack = await join(dee, "small:gap", since={"small:gap": since})
                self.assertEqual(replay, [], why)
                self.assertEqual(ack["recovered"]["small:gap"],
                                 {"ok": False, "offset": first["offset"] + 5, "epoch": epoch}, why)
                await dee.close()
            # The last three are still there.
            dee = await open_client(self.server, "dee")
            replay, ack = await join(dee, "small:gap", since={"small:gap": {
                "offset": first["offset"] + 2, "epoch": epoch}})
            self.assertEqual([f["payload"]["n"] for f in replay], [3, 4, 5])
            self.assertTrue(ack["recovered"]["small:gap"]["ok"])
        self.arun(go())

    def test_a_join_with_last_n_gets_the_newest_kept_messages_before_anything_newer(self):
        async def go():
            bob = await open_client(self.server, "bob")
            await join(bob, "small:last")
            # An empty room: nothing to replay, and the ack says where the client starts.
            fay = await open_client(self.server, "fay")
            replay, ack = await join(fay, "small:last", since={"small:last": {"last": 5}})
            self.assertEqual(replay, [])
            epoch = ack["positions"]["small:last"]["epoch"]
            await fay.close()
            said = []   # (n, offset) in the room's order

            async def publish(n):
                said.append((n, (await say(bob, "small:last", n))[0]["offset"]))

            for n in range(1, 6):   # the room keeps 3
                await publish(n)
            for last in (2, 3, 50):
                fay = await open_client(self.server, "fay")
                replay, ack = await join(fay, "small:last", since={"small:last": {"last": last}})
                self.assertEqual([(f["payload"]["n"], f["offset"]) for f in replay],
                                 said[-min(last, 3):], last)
                self.assertEqual(ack["positions"], {"small:last": {
                    "offset": said[-1][1], "epoch": epoch}})
                self.assertNotIn("recovered", ack)
                # Then what comes next, once.
                await publish(len(said) + 1)
                live = await recv_json(fay)
                self.assertEqual((live["payload"]["n"], live["offset"]), said[-1])
                await expect_quiet(fay)
                await fay.close()
        self.arun(go())

    def test_expired_messages_are_not_replayed(self):
        async def go():
            bob = await open_client(self.server, "bob")
            await join(bob, "brief:1")
            first = (await say(bob, "brief:1", 0))[0]
            await say(bob, "brief:1", 1)
            await asyncio.sleep(1.3)
            eve = await open_client(self.server, "eve")
            replay, ack = await join(eve, "brief:1", since={"brief:1": {
                "offset": first["offset"], "epoch": first["epoch"]}})
            self.assertEqual(replay, [])
            self.assertFalse(ack["recovered"]["brief:1"]["ok"])
            # Nothing missed since the last offset: still ok, though nothing is kept.
            replay, ack = await join(eve, "brief:1", ref="again", since={"brief:1": {
                "offset": first["offset"] + 1, "epoch": first["epoch"]}})
            self.assertEqual((replay, ack["recovered"]["brief:1"]["ok"]), ([], True))
        self.arun(go())

    def test_senders_on_both_loops_reach_every_member_in_offset_order(self):
        async def go():
            members = [await open_client(self.server, f"m{i}") for i in range(4)]
            senders = [await open_client(self.server, f"s{i}") for i in range(4)]
            for ws in members:
                await join(ws, "chat:race")
            per_sender = 60

            async def blast(ws, index):
                for n in range(per_sender):
                    await send_json(ws, {"event": "say", "target": "chat:race",
                                         "payload": {"s": index, "n": n}})

            await asyncio.gather(*(blast(ws, i) for i, ws in enumerate(senders)))
            total = per_sender * len(senders)
            for ws in members:
                offsets = []
                last_n = {}
                while len(offsets) < total:
                    frame = await recv_json(ws, 5)
                    offsets.append(frame["offset"])
                    sender, n = frame["payload"]["s"], frame["payload"]["n"]
                    self.assertEqual(n, last_n.get(sender, -1) + 1,
                                     f"one sender's order: {sender} after {offsets[-6:]}")
                    last_n[sender] = n
                self.assertEqual(offsets, list(range(offsets[0], offsets[0] + total)))
        self.arun(go(), timeout=60)

    def test_recovery_while_others_send_from_both_loops_is_exact(self):
        async def go():
            senders = [await open_client(self.server, f"w{i}") for i in range(2)]
            fay = await open_client(self.server, "fay")
            await join(fay, "big:busy")
            stop = asyncio.Event()

            async def keep_sending(ws, index):
                n = 0
                while not stop.is_set():
                    await send_json(ws, {"event": "say", "target": "big:busy",
                                         "payload": {"s": index, "n": n}})
                    n += 1
                    await asyncio.sleep(0.001)

            tasks = [asyncio.create_task(keep_sending(ws, i)) for i, ws in enumerate(senders)]
            received = []
            for _ in range(5):   # leave and come back five times while they send
                while len(received) < 20 or received[-1]["offset"] < received[0]["offset"] + 20:
                    received.append(await recv_json(fay, 5))
                position = {"offset": received[-1]["offset"], "epoch": received[-1]["epoch"]}
                await fay.close()
                await asyncio.sleep(0.05)
                fay = await open_client(self.server, "fay")
                replay, ack = await join(fay, "big:busy", since={"big:busy": position})
                self.assertTrue(ack["recovered"]["big:busy"]["ok"], ack)
                received += replay
            stop.set()
            await asyncio.gather(*tasks)
            for n in range(10):   # and live messages after the last return
                await send_json(senders[0], {"event": "say", "target": "big:busy",
                                             "payload": {"after": n}})
            while not received or received[-1]["payload"].get("after") != 9:
                received.append(await recv_json(fay, 5))
            offsets = [f["offset"] for f in received]
            self.assertEqual(offsets, list(range(offsets[0], offsets[0] + len(offsets))),
                             "every offset once, in order, across five reconnections")
        self.arun(go(), timeout=60)

    def test_since_for_a_room_the_steps_do_not_join_is_ignored(self):
        async def go():
            gus = await open_client(self.server, "gus")
            _, ack = await join(gus, "chat:g", since={"chat:other": {"offset": 1, "epoch": "x"}})
            self.assertNotIn("recovered", ack)
            self.assertIn("chat:g", ack["positions"])
        self.arun(go())

    def test_bad_forms_of_since_are_bad_message(self):
        async def go():
            hal = await open_client(self.server, "hal")
            bad = [
                ("a list", ["chat:1"]),
                ("a string", "chat:1"),
                ("a room that is not an object", {"chat:1": 41}),
                ("a negative offset", {"chat:1": {"offset": -1, "epoch": "e"}}),
                ("a fractional offset", {"chat:1": {"offset": 1.5, "epoch": "e"}}),
                ("a string offset", {"chat:1": {"offset": "41", "epoch": "e"}}),
                ("a numeric epoch", {"chat:1": {"offset": 41, "epoch": 7}}),
                ("no epoch", {"chat:1": {"offset": 41}}),
                ("no offset", {"chat:1": {"epoch": "e"}}),
                ("an unknown key", {"chat:1": {"offset": 1, "epoch": "e", "extra": 1}}),
                ("an empty room id", {"": {"offset": 1, "epoch": "e"}}),
                ("last zero", {"chat:1": {"last": 0}}),
                ("a negative last", {"chat:1": {"last": -3}}),
                ("a fractional last", {"chat:1": {"last": 2.5}}),
                ("a string last", {"chat:1": {"last": "10"}}),
                ("too large a last", {"chat:1": {"last": 100001}}),
                ("last and a position", {"chat:1": {"last": 5, "offset": 1, "epoch": "e"}}),
                ("last and an epoch", {"chat:1": {"last": 5, "epoch": "e"}}),
                ("too many rooms", {f"chat:{i}": {"offset": 1, "epoch": "e"} for i in range(101)}),
            ]
            for ref, (why, since) in enumerate(bad):
                await send_json(hal, {"event": "join", "target": "chat:1", "id": ref,
                                      "since": since})
                error = await expect_error(hal, "bad_message", ref=ref)
                self.assertIn("since", error["message"], why)
            # A duplicate key inside `since`.
            await hal.send('{"event":"join","target":"chat:1","id":"dup","since":'
                           '{"chat:1":{"offset":1,"offset":2,"epoch":"e"}}}')
            await expect_error(hal, "bad_message", ref="dup")
            # Nothing was joined.
            await expect_quiet(hal)
            info = api_get(self.server, "/api/rooms/chat:1").json()
            self.assertEqual(info["connection_count"], 0)
        self.arun(go())

    def test_the_server_api_publishes_with_offsets_and_reads_history(self):
        async def go():
            ivy = await open_client(self.server, "ivy")
            _, ack = await join(ivy, "chat:api")
            start = ack["positions"]["chat:api"]
            response = http_request(self.server.port, "POST", "/api/publish",
                                    headers=[("Authorization", f"Bearer {API_KEY}"),
                                             ("Content-Type", "application/json")],
                                    body=json.dumps({"target": "room:chat:api", "event": "news",
                                                     "payload": {"k": 1}}).encode())
            self.assertEqual(response.status, 200, response)
            frame = await recv_json(ivy)
            self.assertEqual(frame, {"event": "news", "payload": {"k": 1}, "room": "chat:api",
                                     "offset": start["offset"] + 1, "epoch": start["epoch"]})
            said = (await say(ivy, "chat:api", 2))[0]
            info = api_get(self.server, "/api/rooms/chat:api").json()
            self.assertEqual((info["offset"], info["epoch"]), (said["offset"], said["epoch"]))
            history = api_get(self.server, f"/api/rooms/chat:api/history?since={start['offset']}")
            self.assertEqual(history.status, 200)
            self.assertEqual(history.json(), {
                "room": "chat:api", "offset": said["offset"], "epoch": said["epoch"],
                "complete": True, "messages": [frame, said]})
            later = api_get(self.server, f"/api/rooms/chat:api/history?since={said['offset']}")
            self.assertEqual(later.json()["messages"], [])
            everything = api_get(self.server, "/api/rooms/chat:api/history").json()
            self.assertEqual(everything["messages"][-2:], [frame, said])
            for bad in ("-1", "x", "", "1.5"):
                response = api_get(self.server, f"/api/rooms/chat:api/history?since={bad}")
                self.assertEqual((response.status, response.json()["field"]), (400, "since"), bad)
            plain = api_get(self.server, "/api/rooms/plain:1/history")
            self.assertEqual((plain.status, plain.json()["error"]), (404, "no_history"))
            self.assertNotIn("offset", api_get(self.server, "/api/rooms/plain:1").json())
        self.arun(go())


class Restart(DispatchTestCase):
    def test_a_restart_is_a_new_epoch_and_recovery_says_so(self):
        server = self.start_server(history_config())

        async def before():
            jo = await open_client(server, "jo")
            await join(jo, "chat:restart")
            frame = (await say(jo, "chat:restart", 1))[0]
            return {"offset": frame["offset"], "epoch": frame["epoch"]}

        position = self.arun(before())
        server.restart()

        async def after():
            jo = await open_client(server, "jo")
            replay, ack = await join(jo, "chat:restart", since={"chat:restart": position})
            recovered = ack["recovered"]["chat:restart"]
            self.assertEqual(replay, [])
            self.assertFalse(recovered["ok"])
            self.assertNotEqual(recovered["epoch"], position["epoch"])
        self.arun(after())


if __name__ == "__main__":
    unittest.main()
