"""Connection policies (SPEC 2, 3, 7): server.allowed_origins (safe default, "*", exact,
wildcards), auth.connection_limit (reject / cycle), server.max_connections,
server.max_rooms_per_connection, auth.anonymous, auth.refuse_after_upgrade (4401/4403/4429),
refusal messages that say what happened and what to do, and accept backing off (no busy spin)
when the server runs out of file descriptors."""

import asyncio
import json
import os
import socket
import struct
import time
import unittest
import uuid

import websockets.exceptions

from dispatch_harness import (
    OP_CLOSE, OP_TEXT, DispatchTestCase, RawWebSocket, _read_head, assert_secrets_not_logged,
    connect, dispatch_bin, expect_close, expect_error, expect_quiet, free_config, make_token,
    now, open_client, parse_close, raw_upgrade, recv_json, request, require_binary, send_json,
    upgrade_headers,
)

EVENTS = """
ping:
  actions:
    - name: _reply
      params: ["pong", '{"user": "{$user.id}", "conn": "{$conn.id}"}']
join:
  actions:
    - name: _join
      params: ["{$user.id}", "{$target.id}"]
join_conn:
  actions:
    - name: _join
      params: ["{$user.id}", "{$target.id}", "connection"]
leave:
  actions:
    - name: _leave
      params: ["{$user.id}", "{$target.id}"]
say:
  actions:
    - name: _notify_room
      params: ["said", '{.payload}']
"""


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def refusal_body(tc, resp, status, code):
    """Assert an HTTP refusal with a JSON body {"error": code, "message": <non-empty str>}."""
    tc.assertEqual(resp.status, status, resp)
    tc.assertTrue(resp.headers.get("content-type", "").startswith("application/json"), resp)
    body = resp.json()
    tc.assertEqual(body.get("error"), code, body)
    tc.assertIsInstance(body.get("message"), str, body)
    tc.assertGreater(len(body["message"].strip()), 10, body)
    return body


async def ping(tc, ws, ref=1):
    frames = await request(ws, {"event": "ping", "id": ref})
    tc.assertEqual([f["event"] for f in frames], ["pong", "ack"], frames)
    return frames[0]["payload"]


async def connect_eventually(tc, server, sub, timeout=2.0):
    """Open a client, retrying while the server still refuses (a closed connection is released
    asynchronously). Fails with the last refusal seen after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            return await open_client(server, sub)
        except websockets.exceptions.InvalidStatusCode as e:
            last = e
        if time.monotonic() >= deadline:
            tc.fail(f"still refused {timeout}s after a connection closed: {last!r}")
        await asyncio.sleep(0.05)


def wait_for_refusal_log(tc, server, code, since=0, timeout=2.0):
    entry = server.wait_for_log(
        lambda l: l.get("msg") == "connection refused" and l.get("code") == code, timeout,
        since=since)
    return entry


# --------------------------------------------------------------------------------------------
# server.allowed_origins
# --------------------------------------------------------------------------------------------

class AllowedOrigins(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.default = cls.start_class_server(free_config(EVENTS))
        cls.star = cls.start_class_server(free_config(EVENTS, server={"allowed_origins": ["*"]}))
        cls.listed = cls.start_class_server(free_config(EVENTS, server={
            "allowed_origins": ["https://app.example.org", "https://*.example.com"]}))

    def status(self, server, origin=None):
        headers = [("Origin", origin)] if origin is not None else []
        resp = raw_upgrade(server.port, headers, token=make_token(uniq("o")))
        return resp

    def assert_allowed(self, server, origin):
        resp = self.status(server, origin)
        self.assertEqual(resp.status, 101, f"origin {origin!r} should be allowed: {resp}")

    def assert_forbidden(self, server, origin):
        mark = server.log_mark()
        resp = self.status(server, origin)
        body = refusal_body(self, resp, 403, "forbidden_origin")
        # What happened and what to do: the setting to change is named.
        self.assertIn("server.allowed_origins", body["message"], body)
        wait_for_refusal_log(self, server, "forbidden_origin", since=mark)
        return body

    def test_default_allows_no_origin(self):
        self.assert_allowed(self.default, None)

    def test_default_allows_same_host(self):
        self.assert_allowed(self.default, f"http://127.0.0.1:{self.default.port}")

    def test_default_refuses_other_origins(self):
        body = self.assert_forbidden(self.default, "https://evil.example")
        self.assertIn("https://evil.example", body["message"], body)
        self.assert_forbidden(self.default, "null")
        self.assert_forbidden(self.default, f"http://localhost:{self.default.port}")
        self.assert_forbidden(self.default, f"http://127.0.0.1:{self.default.port}.evil.io")
        # Another port on the same host is another origin.
        other = 1 if self.default.port != 1 else 2
        self.assert_forbidden(self.default, f"http://127.0.0.1:{other}")

    def test_default_with_real_client(self):
        async def go():
            ws = await connect(self.default.url(), make_token("same-origin"),
                               origin=f"http://127.0.0.1:{self.default.port}")
            self.assertEqual((await recv_json(ws))["event"], "welcome")
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                await connect(self.default.url(), make_token("cross-origin"),
                              origin="https://evil.example")
            self.assertEqual(cm.exception.status_code, 403)
        self.arun(go())

    def test_star_allows_any(self):
        for origin in (None, "https://evil.example", "null", "http://localhost:1234",
                       f"http://127.0.0.1:{self.star.port}"):
            self.assert_allowed(self.star, origin)

    def test_exact_match(self):
        self.assert_allowed(self.listed, "https://app.example.org")
        self.assert_forbidden(self.listed, "http://app.example.org")        # other scheme
        self.assert_forbidden(self.listed, "https://app.example.org:8443")  # other port
        self.assert_forbidden(self.listed, "https://evil.example.org")
        self.assert_forbidden(self.listed, "https://app.example.org.evil.io")

    def test_wildcard_subdomains(self):
        self.assert_allowed(self.listed, "https://a.example.com")
        self.assert_allowed(self.listed, "https://a.b.example.com")
        self.assert_forbidden(self.listed, "https://example.com")           # not a subdomain
        self.assert_forbidden(self.listed, "http://a.example.com")          # other scheme
        self.assert_forbidden(self.listed, "https://a.example.com.evil.io")
        self.assert_forbidden(self.listed, "https://evilexample.com")

    def test_list_still_allows_clients_without_origin(self):
        self.assert_allowed(self.listed, None)


# --------------------------------------------------------------------------------------------
# auth.connection_limit
# --------------------------------------------------------------------------------------------

class ConnectionLimitReject(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(free_config(EVENTS, auth={
            "connection_limit": {"max_per_user": 2, "mode": "reject"}}))

    def test_third_connection_refused_429_then_accepted_after_close(self):
        async def go():
            alice = uniq("alice")
            a1 = await open_client(self.server, alice)
            a2 = await open_client(self.server, alice)
            mark = self.server.log_mark()
            resp = raw_upgrade(self.server.port, token=make_token(alice))
            body = refusal_body(self, resp, 429, "too_many_connections")
            self.assertRegex(body["message"], r"max_per_user|connection_limit", body)
            entry = wait_for_refusal_log(self, self.server, "too_many_connections", since=mark)
            self.assertEqual(entry.get("status"), 429, entry)
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                await open_client(self.server, alice)
            self.assertEqual(cm.exception.status_code, 429)
            # The refusals did not disturb the two open connections.
            await ping(self, a1)
            await ping(self, a2)
            # Another user is not limited by alice's connections.
            bob = await open_client(self.server, uniq("bob"))
            await ping(self, bob)
            # After one closes, a new one is accepted again.
            await a1.close()
            a3 = await connect_eventually(self, self.server, alice)
            await ping(self, a3)
            await ping(self, a2)
            # And the limit still holds.
            resp = raw_upgrade(self.server.port, token=make_token(alice))
            refusal_body(self, resp, 429, "too_many_connections")
        self.arun(go())


class ConnectionLimitCycle(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(free_config(EVENTS, auth={
            "connection_limit": {"max_per_user": 2, "mode": "cycle"}}))

    def test_oldest_replaced_with_4001(self):
        async def go():
            alice, bob = uniq("alice"), uniq("bob")
            b1 = await open_client(self.server, bob)
            b2 = await open_client(self.server, bob)
            a1 = await open_client(self.server, alice)
            a2 = await open_client(self.server, alice)
            a3 = await open_client(self.server, alice)     # replaces a1
            code, reason, frames = await expect_close(a1, 3)
            self.assertEqual((code, reason), (4001, "replaced by newer connection"), frames)
            self.assertEqual(frames, [])
            await ping(self, a2)
            await ping(self, a3)
            a4 = await open_client(self.server, alice)     # replaces a2, the oldest left
            code, reason, _ = await expect_close(a2, 3)
            self.assertEqual((code, reason), (4001, "replaced by newer connection"))
            p3, p4 = await ping(self, a3), await ping(self, a4)
            self.assertEqual((p3["user"], p4["user"]), (alice, alice))
            self.assertNotEqual(p3["conn"], p4["conn"])
            # Other users are unaffected: nothing arrived, both still work.
            for ws in (b1, b2):
                await expect_quiet(ws)
                await ping(self, ws)
        self.arun(go())

    def test_repeated_cycling_keeps_exactly_max(self):
        async def go():
            carol = uniq("carol")
            alive = [await open_client(self.server, carol), await open_client(self.server, carol)]
            for _ in range(4):
                new = await open_client(self.server, carol)
                oldest = alive.pop(0)
                code, reason, _ = await expect_close(oldest, 3)
                self.assertEqual((code, reason), (4001, "replaced by newer connection"))
                alive.append(new)
                for ws in alive:
                    await ping(self, ws)
        self.arun(go())


# --------------------------------------------------------------------------------------------
# server.max_connections
# --------------------------------------------------------------------------------------------

class MaxConnections(DispatchTestCase):
    def test_fourth_gets_503_then_accepted_after_close(self):
        server = self.start_server(free_config(EVENTS, server={"max_connections": 3}))

        async def go():
            c = [await open_client(server, uniq(f"u{i}")) for i in range(3)]
            mark = server.log_mark()
            resp = raw_upgrade(server.port, token=make_token(uniq("u4")))
            body = refusal_body(self, resp, 503, "server_full")
            self.assertIn("max_connections", body["message"], body)
            wait_for_refusal_log(self, server, "server_full", since=mark)
            for ws in c:
                await ping(self, ws)
            await c[0].close()
            d = await connect_eventually(self, server, uniq("u5"))
            await ping(self, d)
            resp = raw_upgrade(server.port, token=make_token(uniq("u6")))
            refusal_body(self, resp, 503, "server_full")
        self.arun(go())


# --------------------------------------------------------------------------------------------
# server.max_rooms_per_connection
# --------------------------------------------------------------------------------------------

class MaxRoomsPerConnection(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(free_config(EVENTS, server={
            "max_rooms_per_connection": 2}))

    async def ack(self, ws, msg):
        frames = await request(ws, msg)
        self.assertEqual(frames[-1]["event"], "ack", frames)
        return frames

    async def check_limit(self, join_event):
        r1, r2, r3 = uniq("r1"), uniq("r2"), uniq("r3")
        c = await open_client(self.server, uniq("c"))
        other = await open_client(self.server, uniq("other"))
        await self.ack(c, {"event": join_event, "target": r1, "id": 1})
        await self.ack(c, {"event": join_event, "target": r2, "id": 2})
        # Joining a room it is already in is not a new room.
        await self.ack(c, {"event": join_event, "target": r1, "id": 3})
        await send_json(c, {"event": join_event, "target": r3, "id": 4})
        p = await expect_error(c, "forbidden", ref=4, event=join_event)
        self.assertIn("max_rooms_per_connection", p["message"], p)
        # Still open, still a member of its first two rooms, not of the third.
        await ping(self, c, ref=5)
        await self.ack(other, {"event": "join", "target": r3, "id": 1})
        for i, room in enumerate((r1, r2, r3)):
            await self.ack(other, {"event": "say", "target": room, "payload": {"n": i}, "id": 10 + i})
        got = [await recv_json(c), await recv_json(c)]
        self.assertEqual([(f["event"], f["room"], f["payload"]) for f in got],
                         [("said", r1, {"n": 0}), ("said", r2, {"n": 1})], got)
        await expect_quiet(c)
        # Leaving one makes room for another.
        await self.ack(c, {"event": "leave", "target": r1, "id": 6})
        await self.ack(c, {"event": join_event, "target": r3, "id": 7})
        await self.ack(other, {"event": "say", "target": r3, "payload": {"n": 3}, "id": 20})
        await self.ack(other, {"event": "say", "target": r1, "payload": {"n": 4}, "id": 21})
        got = await recv_json(c)
        self.assertEqual((got["room"], got["payload"]), (r3, {"n": 3}), got)
        await expect_quiet(c)

    def test_connection_scope(self):
        self.arun(self.check_limit("join_conn"))

    def test_user_scope(self):
        self.arun(self.check_limit("join"))


# --------------------------------------------------------------------------------------------
# auth.anonymous
# --------------------------------------------------------------------------------------------

class Anonymous(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.anon = cls.start_class_server(free_config(EVENTS, auth={"anonymous": True}))
        cls.strict = cls.start_class_server(free_config(EVENTS))

    def test_no_token_gets_anon_user_id(self):
        async def go():
            ids = []
            for _ in range(2):
                ws = await connect(self.anon.url())
                frame = await recv_json(ws)
                self.assertEqual(frame["event"], "welcome", frame)
                p = frame["payload"]
                self.assertEqual(p["user_id"], "anon:" + p["conn_id"], frame)
                pong = await ping(self, ws)
                self.assertEqual(pong["user"], p["user_id"])
                ids.append(p["user_id"])
            self.assertNotEqual(ids[0], ids[1])
        self.arun(go())

    def test_valid_token_still_names_the_user(self):
        async def go():
            ws = await open_client(self.anon, "named-user")
            self.assertEqual(ws.welcome["payload"]["user_id"], "named-user")
        self.arun(go())

    def test_invalid_token_still_refused(self):
        resp = raw_upgrade(self.anon.port, token=make_token("x", secret="wrong-secret-0000000"))
        refusal_body(self, resp, 401, "invalid_token")
        resp = raw_upgrade(self.anon.port, token="garbage")
        refusal_body(self, resp, 401, "invalid_token")
        resp = raw_upgrade(self.anon.port, token=make_token("x", exp=now() - 3600))
        refusal_body(self, resp, 401, "token_expired")

    def test_default_refuses_missing_token_saying_how_to_send_one(self):
        mark = self.strict.log_mark()
        resp = raw_upgrade(self.strict.port)
        body = refusal_body(self, resp, 401, "missing_token")
        self.assertIn("Authorization", body["message"], body)
        self.assertRegex(body["message"], r"(?i)bearer", body)
        wait_for_refusal_log(self, self.strict, "missing_token", since=mark)


# --------------------------------------------------------------------------------------------
# auth.refuse_after_upgrade
# --------------------------------------------------------------------------------------------

class RefuseAfterUpgrade(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(free_config(
            EVENTS, permissions=["kick_user"],
            auth={"refuse_after_upgrade": True,
                  "connection_limit": {"max_per_user": 1, "mode": "reject"}}))

    def closed_after_upgrade(self, server=None, token=None, headers=None):
        """Upgrade with a raw client: expect 101, then a close frame as the first frame (no
        welcome), then the server ends the connection. Returns (code, reason)."""
        server = server or self.server
        mark = server.log_mark()
        with RawWebSocket(server.port, token, headers=headers, timeout=3) as ws:
            self.assertEqual(ws.status, 101)
            fin, op, payload = ws.recv_frame(3)
            self.assertEqual(op, OP_CLOSE, f"expected a close frame first, got op {op}: {payload[:200]!r}")
            code, reason = parse_close(payload)
            ws.send_frame(OP_CLOSE, payload[:2])
            # The server then ends the TCP connection.
            deadline = time.monotonic() + 3
            while True:
                try:
                    fin, op, extra = ws.recv_frame(max(0.05, deadline - time.monotonic()))
                    self.fail(f"frame after the close frame: op {op} {extra[:100]!r}")
                except (ConnectionError, OSError):
                    break
        entry = wait_for_refusal_log(self, server, reason, since=mark)
        self.assertIsInstance(entry.get("status"), int, entry)
        return code, reason

    def test_bad_tokens_close_4401(self):
        self.assertEqual(self.closed_after_upgrade(token=make_token("x", secret="wrong-secret-0000000")),
                         (4401, "invalid_token"))
        self.assertEqual(self.closed_after_upgrade(token="garbage"), (4401, "invalid_token"))
        self.assertEqual(self.closed_after_upgrade(token=make_token("x", exp=now() - 3600)),
                         (4401, "token_expired"))
        self.assertEqual(self.closed_after_upgrade(), (4401, "missing_token"))

    def test_bad_origin_closes_4403(self):
        self.assertEqual(self.closed_after_upgrade(token=make_token(uniq("o")),
                                                   headers=[("Origin", "https://evil.example")]),
                         (4403, "forbidden_origin"))

    def test_unknown_permission_closes_4403(self):
        self.assertEqual(self.closed_after_upgrade(token=make_token(uniq("p"), perms=["nope"])),
                         (4403, "unknown_permission"))

    def test_connection_limit_closes_4429(self):
        async def go():
            user = uniq("lim")
            ws = await open_client(self.server, user)
            code_reason = await asyncio.get_running_loop().run_in_executor(
                None, lambda: self.closed_after_upgrade(token=make_token(user)))
            self.assertEqual(code_reason, (4429, "too_many_connections"))
            await ping(self, ws)
        self.arun(go())

    def test_server_full_closes_4429(self):
        server = self.start_server(free_config(EVENTS, server={"max_connections": 1},
                                               auth={"refuse_after_upgrade": True}))

        async def go():
            ws = await open_client(server, uniq("first"))
            code_reason = await asyncio.get_running_loop().run_in_executor(
                None, lambda: self.closed_after_upgrade(server, token=make_token(uniq("second"))))
            self.assertEqual(code_reason, (4429, "server_full"))
            await ping(self, ws)
        self.arun(go())

    def test_websockets_client_sees_the_close(self):
        async def go():
            ws = await connect(self.server.url(), make_token("x", secret="wrong-secret-0000000"))
            code, reason, frames = await expect_close(ws, 3)
            self.assertEqual((code, reason, frames), (4401, "invalid_token", []))
        self.arun(go())

    def test_non_websocket_refusals_stay_http(self):
        resp = raw_upgrade(self.server.port, path="/nope", token=make_token("x"))
        self.assertEqual(resp.status, 404, resp)
        resp = raw_upgrade(self.server.port, upgrade=False, token=make_token("x"))
        self.assertEqual(resp.status, 426, resp)


# --------------------------------------------------------------------------------------------
# Refusal messages a new user hits
# --------------------------------------------------------------------------------------------

class RefusalMessages(DispatchTestCase):
    def test_wrong_secret_and_expired_say_what_happened_and_what_to_do(self):
        server = self.start_server(free_config(EVENTS))
        wrong = make_token("newbie", secret="not-the-configured-secret-1")
        expired = make_token("newbie", exp=now() - 3600)

        mark = server.log_mark()
        body = refusal_body(self, raw_upgrade(server.port, token=wrong), 401, "invalid_token")
        log = wait_for_refusal_log(self, server, "invalid_token", since=mark)
        self.assertEqual(log.get("status"), 401, log)
        self.assertRegex(body["message"], r"(?i)refused|invalid", body)
        self.assertRegex(body["message"], r"(?i)signature", body)
        # What to do: a token with a bad signature was signed with another secret; the body or
        # the log must point at the secret it has to be signed with.
        hint = body["message"] + " " + json.dumps(log)
        self.assertRegex(hint, r"(?i)secret",
                         f"no hint about the signing secret; body: {body}; log: {log}")

        mark = server.log_mark()
        body = refusal_body(self, raw_upgrade(server.port, token=expired), 401, "token_expired")
        log = wait_for_refusal_log(self, server, "token_expired", since=mark)
        self.assertEqual(log.get("status"), 401, log)
        self.assertRegex(body["message"], r"(?i)expired", body)
        self.assertRegex(body["message"], r"(?i)new|refresh|renew", body)

        # The refusal's log line (awaited above) is the last line logged before this check.
        assert_secrets_not_logged(server, secrets=("test-secret-0123456789",
                                                   "not-the-configured-secret-1"),
                                  tokens=[wrong, expired])


# --------------------------------------------------------------------------------------------
# Accept backs off when file descriptors run out
# --------------------------------------------------------------------------------------------

def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _PendingUpgrade:
    """A raw upgrade request that is sent at once and whose answer is read later."""

    def __init__(self, port: int, token: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        hdrs = [("Host", f"127.0.0.1:{port}")] + upgrade_headers(token)
        req = "GET /ws HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
        self.sock.sendall(req.encode())

    def finish(self, timeout: float):
        """(status, welcome frame) or raises socket.timeout."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        status, _, buf = _read_head(self.sock, b"")
        if status != 101:
            return status, None
        while True:
            if len(buf) >= 2:
                n, pos = buf[1] & 0x7F, 2
                if n == 126:
                    n, pos = (struct.unpack("!H", buf[2:4])[0], 4) if len(buf) >= 4 else (None, 4)
                elif n == 127:
                    n, pos = (struct.unpack("!Q", buf[2:10])[0], 10) if len(buf) >= 10 else (None, 10)
                if n is not None and len(buf) >= pos + n:
                    op, payload = buf[0] & 0x0F, buf[pos:pos + n]
                    return status, (json.loads(payload) if op == OP_TEXT else {"op": op, "payload": payload})
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed before the welcome frame")
            buf += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _ubsan_options_out_of_descriptors() -> str:
    """UBSAN_OPTIONS for a server without descriptors: UBSan's vptr check needs a pipe (see the
    suppressions file); the rest of the caller's options are kept."""
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ubsan-out-of-descriptors.supp")
    if not os.path.isfile(supp):
        raise FileNotFoundError(supp)
    options = [o for o in os.environ.get("UBSAN_OPTIONS", "").split(":")
               if o and not o.startswith("suppressions=")]
    return ":".join(options + [f"suppressions={supp}"])


class AcceptBackoff(DispatchTestCase):
    NOFILE = 64

    def test_out_of_file_descriptors_answers_503_then_recovers(self):
        real = require_binary(dispatch_bin())
        server = self.start_server(free_config(EVENTS), binary="/usr/bin/prlimit",
                                   command=(f"--nofile={self.NOFILE}:{self.NOFILE}", "--", real,
                                            "serve"),
                                   env={"UBSAN_OPTIONS": _ubsan_options_out_of_descriptors()})
        with open(f"/proc/{server.pid}/limits") as f:
            self.assertRegex(f.read(), rf"Max open files\s+{self.NOFILE}\s+{self.NOFILE}")
        accepted: list = []
        refused = None
        self.addCleanup(lambda: [c.close() for c in accepted])
        mark = server.log_mark()
        for i in range(self.NOFILE + 16):
            client = _PendingUpgrade(server.port, make_token(f"fd{i}"))
            status, welcome = client.finish(2.0)  # answered, never left waiting (CONFIG.md: 503)
            if status != 101:
                client.close()
                refused = status
                break
            self.assertEqual(welcome.get("event"), "welcome", welcome)
            accepted.append(client)
        self.assertEqual(refused, 503, f"{len(accepted)} connections accepted with nofile={self.NOFILE}")
        self.assertGreater(len(accepted), self.NOFILE // 2, "too few connections before exhaustion")
        warn = server.wait_for_log(lambda l: l.get("level") in ("warn", "warning", "error")
                                   and "accept" in json.dumps(l).lower(), 3, since=mark)
        self.assertIn(warn.get("level"), ("warn", "warning"), warn)

        # Exhausted: no busy loop.
        cpu0, t0 = _cpu_seconds(server.pid), time.monotonic()
        time.sleep(2.0)
        used = _cpu_seconds(server.pid) - cpu0
        elapsed = time.monotonic() - t0
        warnings = sum(1 for l in server.logs()[mark:] if l.get("msg") == warn.get("msg"))
        self.assertLess(used, 0.3, f"server used {used:.2f}s CPU in {elapsed:.1f}s while out of "
                                   f"file descriptors (busy accept loop?); {warnings} warnings")
        self.assertTrue(server.running())

        # Still out of descriptors: another client is answered 503 too.
        extra = _PendingUpgrade(server.port, make_token("extra"))
        self.assertEqual(extra.finish(2.0)[0], 503)
        extra.close()

        # Free some descriptors (released once the server sees the closes): a new client is served.
        for c in accepted[:10]:
            c.close()
        del accepted[:10]
        deadline = time.monotonic() + 5
        while True:
            fresh = _PendingUpgrade(server.port, make_token("fresh"))
            status, welcome = fresh.finish(2.0)
            if status == 101 or time.monotonic() >= deadline:
                break
            fresh.close()
        accepted.append(fresh)
        self.assertEqual((status, (welcome or {}).get("event")), (101, "welcome"), welcome)

if __name__ == "__main__":
    unittest.main()
