"""GoDispatch compatibility (SPEC section 2): GoDispatch's own example config,
tests/compat/godispatch-config.yaml (unchanged; origin and licence in tests/compat/NOTICE.md),
with the secret from GODISPATCH_SERVER_AUTH_JWTSECRET. It says `address: ":8080"`; the server
runs it on a free loopback port given with `dispatch serve --address`, the file untouched.
Replays the README transcript and every row of the table in docs/MIGRATING.md ("Where GoDispatch
was wrong") that a running server can show (the signal and port rows are in test_lifecycle.py).
A missing fixture is a failure."""

import asyncio
import json
import os
import socket
import time
import unittest

from dispatch_harness import (
    DEFAULT_SECRET, REPO, DispatchTestCase, OP_CLOSE, RawWebSocket,
    assert_secrets_not_logged, check_error, compact, connect, expect_close,
    expect_error, expect_quiet, make_token, open_client, parse_close, raw_upgrade, recv_json, request,
    require_binary, send_json,
)

COMPAT_CONFIG = os.path.join(REPO, "tests", "compat", "godispatch-config.yaml")


def joined(user, name, room):
    return compact({"event": "user_joined", "payload": {"user": {"id": user, "name": name}},
                    "room": room, "from": user})


def join_success(room):
    return compact({"event": "join_success", "payload": {"room": room, "status": "ok"}})


def new_message(user, message, room=None):
    frame = {"event": "new_message", "payload": {"user": user, "message": message}}
    if room is not None:
        frame["room"] = room
    frame["from"] = user
    return compact(frame)


class GoDispatchCompat(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()
        with open(COMPAT_CONFIG, encoding="utf-8") as f:   # missing: the suite fails
            cls.config_text = f.read()
        assert 'address: ":8080"' in cls.config_text, "not GoDispatch's example config"
        env = {"DISPATCH_JWT_SECRET": None, "GODISPATCH_SERVER_AUTH_JWTSECRET": DEFAULT_SECRET}
        cls.server = cls.start_class_server(config_path=COMPAT_CONFIG, env=env,
                                            args=["--address", "127.0.0.1:0"])
        assert cls.server.listening["address"] == "127.0.0.1", cls.server.listening
        with open(COMPAT_CONFIG, encoding="utf-8") as f:
            assert f.read() == cls.config_text

    async def client(self, sub):
        return await open_client(self.server, sub)

    async def frames(self, ws, n, timeout=2):
        return [compact(await recv_json(ws, timeout)) for _ in range(n)]

    async def join(self, ws, room, name, user, extra_members=()):
        """join_room and consume what it produces on the joiner and on extra_members."""
        await send_json(ws, {"event": "join_room", "target": room, "payload": {"name": name}})
        self.assertEqual(await self.frames(ws, 2), [join_success(room), joined(user, name, room)])
        for m in extra_members:
            self.assertEqual(await self.frames(m, 1), [joined(user, name, room)])

    # -- the README transcript -------------------------------------------------------------------
    def test_transcript(self):
        async def go():
            room = "room:global"
            a1, a2 = await self.client("alice"), await self.client("alice")
            bob, carol = await self.client("bob"), await self.client("carol")

            await send_json(a1, {"event": "join_room", "target": room, "payload": {"name": "Alice"}})
            for ws in (a1, a2):
                self.assertEqual(await self.frames(ws, 2), [join_success(room), joined("alice", "Alice", room)])
            await expect_quiet(bob)
            await expect_quiet(carol)

            await send_json(bob, {"event": "join_room", "target": room, "payload": {"name": "Bob"}})
            self.assertEqual(await self.frames(bob, 2), [join_success(room), joined("bob", "Bob", room)])
            for ws in (a1, a2):
                self.assertEqual(await self.frames(ws, 1), [joined("bob", "Bob", room)])

            await send_json(a2, {"event": "send_message", "target": room, "payload": {"message": "hello all"}})
            for ws in (a1, a2, bob):
                self.assertEqual(await self.frames(ws, 1), [new_message("alice", "hello all", room)])

            await send_json(carol, {"event": "send_message", "target": room, "payload": {"message": "I am not in"}})
            for ws in (a1, a2, bob):
                self.assertEqual(await self.frames(ws, 1), [new_message("carol", "I am not in", room)])
            await expect_quiet(carol)

            await send_json(bob, {"event": "send_message", "target": "user:carol", "payload": {"message": "psst"}})
            self.assertEqual(await self.frames(carol, 1), [new_message("bob", "psst")])
            for ws in (a1, a2, bob):
                await expect_quiet(ws)

            await send_json(a1, {"event": "leave_room", "target": room})
            self.assertEqual(await self.frames(bob, 1), [compact(
                {"event": "user_left", "payload": {"user": "alice", "room": room}, "room": room, "from": "alice"})])
            await expect_quiet(a1)
            await expect_quiet(a2)
            # Both of alice's connections left: bob's next message reaches only bob.
            await send_json(bob, {"event": "send_message", "target": room, "payload": {"message": "alone"}})
            self.assertEqual(await self.frames(bob, 1), [new_message("bob", "alone", room)])
            await expect_quiet(a1)
            await expect_quiet(a2)
        self.arun(go())
        for line in ("User alice joined room room:global", "User bob joined room room:global",
                     "User alice sent message to room room:global", "User alice left room room:global"):
            self.server.wait_for_log(lambda l, line=line: any(isinstance(v, str) and line in v for v in l.values()), 3)

    def test_browser_subprotocol_forms(self):
        async def go():
            ws = await connect(self.server.url(), make_token("sp1"), via="subprotocol")
            self.assertEqual(ws.subprotocol, "dispatch.v1")
            self.assertEqual((await recv_json(ws))["payload"]["user_id"], "sp1")
            ws = await connect(self.server.url(), make_token("sp2"), via="authorization")
            self.assertEqual(ws.subprotocol, "Authorization")
            self.assertEqual((await recv_json(ws))["payload"]["user_id"], "sp2")
        self.arun(go())

    # -- the table -----------------------------------------------------------------------------
    def test_quote_escaped_and_no_key_injection(self):
        async def go():
            room = "room:esc"
            listener = await self.client("esc-listener")
            await self.join(listener, room, "L", "esc-listener")
            q1, q2 = await self.client("quoter1"), await self.client("quoter2")
            texts = ['say "hi"', 'x", "user": "admin', 'back\\slash', 'new\nline\ttab', 'unicode \u2713 \u65e5\u672c',
                     '{$user.id}', '}}{{ {.payload.message}', '</script>\u0000']
            for text in texts:
                await send_json(q1, {"event": "send_message", "target": room, "payload": {"message": text}})
                raw = await asyncio.wait_for(listener.recv(), 2)
                frame = json.loads(raw)
                self.assertEqual(compact(frame), new_message("quoter1", text, room), raw)
            # Non-string values are inserted as their text inside the string literal.
            for value, text in [(42, "42"), (True, "true"), ({"a": [1, "b"], "user": "admin"}, '{"a":[1,"b"],"user":"admin"}')]:
                await send_json(q2, {"event": "send_message", "target": room, "payload": {"message": value}})
                frame = await recv_json(listener)
                self.assertEqual(compact(frame), new_message("quoter2", text, room))
        self.arun(go())

    def test_rate_limited_11th_message(self):
        async def go():
            room = "room:rate"
            sender, listener = await self.client("ratey"), await self.client("rate-listener")
            await self.join(listener, room, "L", "rate-listener")
            for i in range(10):
                frames = await request(sender, {"event": "send_message", "target": room,
                                                "payload": {"message": f"m{i}"}, "id": i})
                self.assertEqual(frames[-1]["event"], "ack", frames)
            frames = await request(sender, {"event": "send_message", "target": room,
                                            "payload": {"message": "m10"}, "id": 10})
            p = check_error(frames[-1], "rate_limited", ref=10, event="send_message")
            self.assertIsInstance(p.get("retry_after_ms"), int, p)
            self.assertGreater(p["retry_after_ms"], 0)
            got = [json.loads(f)["payload"]["message"] for f in await self.frames(listener, 10)]
            self.assertEqual(got, [f"m{i}" for i in range(10)])
            await expect_quiet(listener)
        self.arun(go())

    def test_errors_are_answered(self):
        async def go():
            ws = await self.client("errs")
            await send_json(ws, {"event": "no_such_event", "target": "room:x", "id": 1})
            await expect_error(ws, "unknown_event", ref=1, event="no_such_event")
            await ws.send('{"event": "send_message", "target": ')
            await expect_error(ws, "bad_json", ref=None)
            await send_json(ws, {"event": "send_message", "payload": {"message": "no target"}, "id": 2})
            await expect_error(ws, "bad_message", ref=2, event="send_message")
            await send_json(ws, {"event": "join_room", "payload": {"name": "x"}, "id": 3})
            await expect_error(ws, "bad_message", ref=3, event="join_room")
            await expect_quiet(ws)
        self.arun(go())

    def test_join_room_without_name(self):
        async def go():
            room = "room:noname"
            watcher, nn = await self.client("nn-watcher"), await self.client("noname")
            await self.join(watcher, room, "W", "nn-watcher")
            mark = self.server.log_mark()
            await send_json(nn, {"event": "join_room", "target": room, "payload": {}, "id": "j"})
            self.assertEqual(await self.frames(nn, 1), [join_success(room)])
            p = await expect_error(nn, "missing_field", ref="j", event="join_room")
            self.assertIn("name", p.get("field", ""), p)
            await expect_quiet(nn)
            await expect_quiet(watcher)      # no user_joined for anyone
            # ...but the join itself happened.
            await send_json(watcher, {"event": "send_message", "target": room, "payload": {"message": "hi nn"}})
            self.assertEqual(await self.frames(nn, 1), [new_message("nn-watcher", "hi nn", room)])
            self.assertEqual(await self.frames(watcher, 1), [new_message("nn-watcher", "hi nn", room)])
            # The _log step after the failing one did not run: noname's next logged line comes
            # first (the log is written in order, from the loop that ran both).
            await send_json(nn, {"event": "send_message", "target": room, "payload": {"message": "later"}})
            self.assertEqual(await self.frames(nn, 1), [new_message("noname", "later", room)])
            self.server.wait_for_log(lambda l: "User noname sent message to room room:noname" in json.dumps(l),
                                     3, since=mark)
            logged = [l for l in self.server.logs()[mark:] if "User noname joined" in json.dumps(l)]
            self.assertEqual(logged, [])
            self.assertEqual(await self.frames(watcher, 1), [new_message("noname", "later", room)])
            # Without any payload at all: the same.
            await send_json(nn, {"event": "join_room", "target": room, "id": "k"})
            self.assertEqual(await self.frames(nn, 1), [join_success(room)])
            await expect_error(nn, "missing_field", ref="k", event="join_room")
        self.arun(go())

    def test_slow_member_does_not_block_others(self):
        room = "room:flood"
        name_len = 50_000
        count = 400

        slow = RawWebSocket(self.server.port, make_token("slow"), rcvbuf=4096)
        self.addCleanup(slow.close)

        async def go():
            fast, flood = await self.client("fast"), await self.client("flooder")
            await self.join(fast, room, "Fast", "fast")
            self.assertEqual(slow.recv_json()["event"], "welcome")
            slow.send_json({"event": "join_room", "target": room, "payload": {"name": "Slow"}})
            self.assertEqual(slow.recv_json()["event"], "join_success")
            self.assertEqual(slow.recv_json()["event"], "user_joined")
            self.assertEqual(await self.frames(fast, 1), [joined("slow", "Slow", room)])
            await self.join(flood, room, "Flood", "flooder", extra_members=[fast])
            # From here on the slow member never reads.

            async def reader(ws, label):
                n = 0
                while n < count:
                    frame = await recv_json(ws, 20)
                    if frame["event"] != "user_joined":
                        continue
                    name = frame["payload"]["user"]["name"]
                    self.assertEqual(int(name[:5]), n, f"{label}: out of order")
                    n += 1
                return n

            async def sender():
                for i in range(count):
                    await asyncio.wait_for(flood.send(json.dumps(
                        {"event": "join_room", "target": room,
                         "payload": {"name": f"{i:05d}" + "x" * name_len}})), 20)

            started = time.monotonic()
            results = await asyncio.gather(reader(fast, "fast"), reader(flood, "flooder"), sender())
            self.assertEqual(results[:2], [count, count])
            elapsed = time.monotonic() - started
            self.assertLess(elapsed, 40, "others were held up by the slow member")
            # Everyone else is still served normally.
            await send_json(fast, {"event": "send_message", "target": room, "payload": {"message": "after"}})
            while True:
                f = await recv_json(flood, 3)
                if f["event"] == "new_message":
                    self.assertEqual(f["payload"]["message"], "after")
                    break

        self.arun(go(), timeout=50)

        # The slow member: dropped with 1008 "slow consumer", or its socket closed.
        deadline = time.monotonic() + 15
        frames_seen, close = 0, None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.fail(f"slow member still connected 15 s after the flood ({frames_seen} frames read, "
                          f"of {count} sent): it was neither dropped nor closed")
            try:
                fin, op, payload = slow.recv_frame(remaining)
            except (ConnectionError, OSError) as e:
                if isinstance(e, socket.timeout):
                    continue
                break
            if op == OP_CLOSE:
                close = parse_close(payload)
                break
            frames_seen += 1
        if close is not None:
            self.assertEqual(close, (1008, "slow consumer"))
        self.assertLess(frames_seen, count + 3, "all frames were delivered: the member was not slow?")

    def test_memberships_end_with_connection(self):
        async def go():
            room = "room:mem"
            m, other = await self.client("mem-user"), await self.client("mem-other")
            await self.join(m, room, "M", "mem-user")
            await self.join(other, room, "O", "mem-other", extra_members=[m])
            # mem-user is a member: the room's messages reach it.
            await send_json(other, {"event": "send_message", "target": room, "payload": {"message": "before"}})
            for ws in (m, other):
                self.assertEqual(await self.frames(ws, 1), [new_message("mem-other", "before", room)])
            await m.close()     # the close handshake is done: the server has closed it
            # The same user again, on a new connection that never joined.
            m2 = await self.client("mem-user")
            await send_json(other, {"event": "send_message", "target": room, "payload": {"message": "after"}})
            self.assertEqual(await self.frames(other, 1), [new_message("mem-other", "after", room)])
            # Barrier: a direct message from the same sender, sent later. Had mem-user's membership
            # outlived its connection, "after" would reach m2 first (one sender's frames keep
            # their order).
            await send_json(other, {"event": "send_message", "target": "user:mem-user",
                                    "payload": {"message": "direct"}})
            self.assertEqual(await self.frames(m2, 1), [new_message("mem-other", "direct")])
            await expect_quiet(m2)
        self.arun(go())

    def test_connection_limit_cycle(self):
        async def go():
            conns = [await self.client("cyc") for _ in range(3)]
            c4 = await self.client("cyc")
            code, reason, _ = await expect_close(conns[0], 3)
            self.assertEqual((code, reason), (4001, "replaced by newer connection"))
            # The three newest are all live: a join_room answer reaches each of them.
            await send_json(c4, {"event": "join_room", "target": "room:cyc", "payload": {"name": "C"}})
            for ws in (conns[1], conns[2], c4):
                self.assertEqual(json.loads((await self.frames(ws, 1))[0])["event"], "join_success")
        self.arun(go())

    def test_zz_secret_and_tokens_never_logged(self):
        # Barrier: a line logged now follows every line logged before it.
        async def go():
            ws = await self.client("zz-last")
            frames = await request(ws, {"event": "send_message", "target": "room:zz",
                                        "payload": {"message": "last"}, "id": 1})
            self.assertEqual(frames[-1]["event"], "ack", frames)
        mark = self.server.log_mark()
        self.arun(go())
        self.server.wait_for_log(lambda l: "User zz-last sent message" in json.dumps(l), 3, since=mark)
        self.assertTrue(self.server.logs(), "the server logged nothing at all")
        assert_secrets_not_logged(self.server)


class SecretFromEnvironment(DispatchTestCase):
    """SPEC 2: with no secret in the file, GODISPATCH_SERVER_AUTH_JWTSECRET or DISPATCH_JWT_SECRET
    gives it, and DISPATCH_JWT_SECRET wins when both are set (on a free port, not :8080)."""

    CONFIG = ('server:\n  address: "127.0.0.1:0"\n'
              'events:\n  ping:\n    actions:\n      - name: _reply\n        params: ["pong", "{}"]\n')

    def status(self, server, secret):
        return raw_upgrade(server.port, token=make_token("envsecret", secret=secret)).status

    def test_godispatch_variable_alone(self):
        server = self.start_server(self.CONFIG, env={"DISPATCH_JWT_SECRET": None,
                                                     "GODISPATCH_SERVER_AUTH_JWTSECRET": "go-secret-0123456789abcdef"})
        self.assertEqual(self.status(server, "go-secret-0123456789abcdef"), 101)
        assert_secrets_not_logged(server, secrets=["go-secret-0123456789abcdef"])

    def test_dispatch_variable_wins(self):
        server = self.start_server(self.CONFIG, env={"DISPATCH_JWT_SECRET": "dispatch-secret-0123456789ab",
                                                     "GODISPATCH_SERVER_AUTH_JWTSECRET": "go-secret-0123456789abcdef"})
        self.assertEqual(self.status(server, "dispatch-secret-0123456789ab"), 101)
        self.assertEqual(self.status(server, "go-secret-0123456789abcdef"), 401)
        assert_secrets_not_logged(server, secrets=["dispatch-secret-0123456789ab", "go-secret-0123456789abcdef"])


if __name__ == "__main__":
    unittest.main()
