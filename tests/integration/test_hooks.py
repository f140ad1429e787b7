"""Lifecycle hooks (SPEC 2 and 5, docs/CONFIG.md `hooks`): on the real binary, over real sockets,
`_webhook` in on_connect, on_disconnect, on_join and on_leave reaches a real HTTP receiver for
every connect, join, leave and disconnect — also when a client's socket goes away without a
close frame, in which case on_leave runs for every room it was in and the members that remain
get the on_leave notice. Two event loops, so a `_join` for a user's other connection is applied
on another loop and still runs on_join there. /metrics counts the hook runs."""

import asyncio
import json
import subprocess
import unittest

from dispatch_harness import (DispatchTestCase, RawWebSocket, free_config, make_token,
                              open_client, recv_until, request)
from test_preauth import http_get
from test_webhooks import Receiver


def body(hook):
    room = ', "room": "{$room.id}"' if hook in ("join", "leave") else ""
    return ('{"hook": "' + hook + '", "user": "{$user.id}", "conn": "{$conn.id}", '
            '"team": "{$token.team}"' + room + '}')


def hooks_config(receiver):
    hooks = {
        "on_connect": [{"name": "_webhook", "params": ["backend", body("connect")]}],
        "on_disconnect": [{"name": "_webhook", "params": ["backend", body("disconnect")]}],
        "on_join": [
            {"name": "_webhook", "params": ["backend", body("join")]},
            {"name": "_notify_room",
             "params": ["joined", '{"user": "{$user.id}", "room": "{$room.id}"}']},
        ],
        "on_leave": [
            {"name": "_webhook", "params": ["backend", body("leave")]},
            {"name": "_notify_room",
             "params": ["left", '{"user": "{$user.id}", "room": "{$room.id}"}']},
        ],
    }
    events = {
        "join": {"actions": [{"name": "_join", "params": ["{$user.id}", "{$target.id}"]}]},
        "leave": {"actions": [{"name": "_leave", "params": ["{$user.id}", "{$target.id}"]}]},
    }
    return free_config(events, server={"threads": 2}, hooks=hooks,
                       extra=f'webhooks:\n  backend: {{url: "{receiver.url("/hooks")}"}}\n')


def token(sub):
    return make_token(sub, team="team-" + sub)


class Hooks(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        cls.addClassCleanup(cls.receiver.close)
        cls.server = cls.start_class_server(hooks_config(cls.receiver))

    def deliveries(self, conn, expected):
        """Waits until the receiver has the hook bodies `expected` (a list of dicts, in any
        order: deliveries travel on several connections) for connection `conn`; returns
        (body, X-Dispatch-Event) pairs."""
        def of_conn(requests):
            return [(json.loads(b), h["X-Dispatch-Event"]) for p, h, b in requests
                    if p == "/hooks" and json.loads(b)["conn"] == conn]

        def key(item):
            return json.dumps(item, sort_keys=True)

        want = sorted(map(key, expected))
        self.receiver.wait_for(
            lambda rs: sorted(key(b) for b, _ in of_conn(rs)) == want)
        return of_conn(self.receiver.requests)

    def test_connect_join_leave_and_disconnect_each_post_to_the_backend(self):
        async def go():
            ws = await open_client(self.server, token=token("alice"))
            conn = ws.conn_id
            self.assertEqual((await request(ws, {"event": "join", "target": "room:1",
                                                 "id": 1}))[-1]["event"], "ack")
            # The hook runs after the message: its room notice follows the ack.
            joined, _ = await recv_until(ws, lambda f: f["event"] == "joined")
            self.assertEqual(joined["payload"], {"user": "alice", "room": "room:1"})
            self.assertEqual((await request(ws, {"event": "leave", "target": "room:1",
                                                 "id": 2}))[-1]["event"], "ack")
            await ws.close()
            return conn

        conn = self.arun(go())
        got = self.deliveries(conn, [
            {"hook": "connect", "user": "alice", "conn": conn, "team": "team-alice"},
            {"hook": "join", "user": "alice", "conn": conn, "team": "team-alice",
             "room": "room:1"},
            {"hook": "leave", "user": "alice", "conn": conn, "team": "team-alice",
             "room": "room:1"},
            {"hook": "disconnect", "user": "alice", "conn": conn, "team": "team-alice"},
        ])
        self.assertEqual({b["hook"]: event for b, event in got},
                         {"connect": "on_connect", "join": "on_join", "leave": "on_leave",
                          "disconnect": "on_disconnect"})

    def test_an_abrupt_disconnect_leaves_every_room_and_tells_the_members(self):
        async def go():
            bob = await open_client(self.server, token=token("bob"))
            await request(bob, {"event": "join", "target": "room:x", "id": 1})
            await recv_until(bob, lambda f: f["event"] == "joined")
            # carol: a hand-made socket that goes away without a close frame.
            carol = RawWebSocket(self.server.port, token("carol"))
            welcome = carol.recv_json()
            conn = welcome["payload"]["conn_id"]
            for i, room in enumerate(("room:x", "room:y"), start=10):
                carol.send_json({"event": "join", "target": room, "id": i})
                while True:
                    frame = carol.recv_json()
                    if frame["event"] == "ack" and frame["payload"]["ref"] == i:
                        break
            seen, _ = await recv_until(bob, lambda f: f["event"] == "joined")
            self.assertEqual(seen["payload"], {"user": "carol", "room": "room:x"})
            carol.close()  # TCP close, no WebSocket close frame
            left, skipped = await recv_until(bob, lambda f: f["event"] == "left", timeout=5)
            self.assertEqual(left["payload"], {"user": "carol", "room": "room:x"})
            self.assertEqual(left["room"], "room:x")
            self.assertEqual(left["from"], "carol")
            self.assertEqual(skipped, [])
            await bob.close()
            return conn

        conn = self.arun(go())
        self.deliveries(conn, [
            {"hook": "connect", "user": "carol", "conn": conn, "team": "team-carol"},
            {"hook": "join", "user": "carol", "conn": conn, "team": "team-carol",
             "room": "room:x"},
            {"hook": "join", "user": "carol", "conn": conn, "team": "team-carol",
             "room": "room:y"},
            {"hook": "leave", "user": "carol", "conn": conn, "team": "team-carol",
             "room": "room:x"},
            {"hook": "leave", "user": "carol", "conn": conn, "team": "team-carol",
             "room": "room:y"},
            {"hook": "disconnect", "user": "carol", "conn": conn, "team": "team-carol"},
        ])

    def test_a_join_reaches_every_connection_of_the_user_on_any_loop(self):
        async def go():
            first = await open_client(self.server, token=token("dave"))
            second = await open_client(self.server, token=token("dave"))
            await request(first, {"event": "join", "target": "room:z", "id": 1})
            # Both connections joined (one of them on the other event loop): each hears both.
            for ws in (first, second):
                for _ in range(2):
                    await recv_until(ws, lambda f: f["event"] == "joined")
            conns = (first.conn_id, second.conn_id)
            await first.close()
            await second.close()
            return conns

        for conn in self.arun(go()):
            got = self.deliveries(conn, [
                {"hook": "connect", "user": "dave", "conn": conn, "team": "team-dave"},
                {"hook": "join", "user": "dave", "conn": conn, "team": "team-dave",
                 "room": "room:z"},
                {"hook": "leave", "user": "dave", "conn": conn, "team": "team-dave",
                 "room": "room:z"},
                {"hook": "disconnect", "user": "dave", "conn": conn, "team": "team-dave"},
            ])
            self.assertEqual(len(got), 4)

    def test_metrics_count_the_hook_runs(self):
        async def go():
            ws = await open_client(self.server, token=token("erin"))
            await request(ws, {"event": "join", "target": "room:m", "id": 1})
            await recv_until(ws, lambda f: f["event"] == "joined")
            await ws.close()
            return ws.conn_id

        conn = self.arun(go())
        self.deliveries(conn, [
            {"hook": "connect", "user": "erin", "conn": conn, "team": "team-erin"},
            {"hook": "join", "user": "erin", "conn": conn, "team": "team-erin", "room": "room:m"},
            {"hook": "leave", "user": "erin", "conn": conn, "team": "team-erin", "room": "room:m"},
            {"hook": "disconnect", "user": "erin", "conn": conn, "team": "team-erin"},
        ])
        metrics = http_get(self.server.port, "/metrics").body.decode()
        counts = {}
        for line in metrics.splitlines():
            if line.startswith("dispatch_hook_runs_total{"):
                labels, value = line.rsplit(" ", 1)
                counts[labels] = float(value)
        for hook in ("on_connect", "on_disconnect", "on_join", "on_leave"):
            self.assertGreaterEqual(
                counts.get(f'dispatch_hook_runs_total{{hook="{hook}",outcome="ok"}}', 0), 1,
                metrics)
            self.assertEqual(
                counts.get(f'dispatch_hook_runs_total{{hook="{hook}",outcome="failed"}}'), 0,
                metrics)
        check = subprocess.run(["promtool", "check", "metrics"], input=metrics, text=True,
                               capture_output=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


if __name__ == "__main__":
    unittest.main()
