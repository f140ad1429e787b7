"""The HTTP server API (issue 10, part 1; SPEC section 5): POST /api/publish (one message or a
batch, in order, with each item's outcome), GET /api/rooms/{id}, POST /api/disconnect,
POST /api/reload, the Bearer key, the JSON errors for every bad form of a request, and
server.admin_address (then /metrics and /api/* are served only there). Real binary, real
sockets, loopback only."""

import asyncio
import json
import os
import re
import socket
import subprocess
import time
import unittest

from dispatch_harness import (DispatchTestCase, assert_secrets_not_logged, expect_close,
                              expect_quiet, free_config, http_request, open_client, recv_json,
                              recv_until, request, send_json)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
API_KEY = "api-key-for-tests-0123456789abcdef-0123"
AUTH = {"Authorization": f"Bearer {API_KEY}"}

EVENTS = """
join:
  actions:
    - name: _join
      params: ["{$user.id}", "{.room}"]
echo:
  actions:
    - name: _reply
      params: ["echoed", '{"n": {.n}}']
"""
EXTRA_EVENT = """
added:
  actions:
    - name: _reply
      params: ["added", '{"ok": true}']
"""


def api(port, method, path, body=None, headers=None, raw: bytes | None = None):
    hdrs = dict(AUTH)
    hdrs.update(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    if data and "Content-Type" not in hdrs:
        hdrs["Content-Type"] = "application/json"
    return http_request(port, method, path, hdrs, data)


class ApiTestCase(DispatchTestCase):
    def start(self, events=EVENTS, threads=2, server=None, **kw):
        kw.setdefault("api", {"key": API_KEY})
        return self.start_server(free_config(events, server={"threads": threads, **(server or {})},
                                             **kw))

    def assert_error(self, resp, status, code, field=None):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.headers["content-type"], "application/json", resp)
        body = resp.json()
        self.assertEqual(body["error"], code, body)
        self.assertIsInstance(body["message"], str)
        self.assertTrue(body["message"], body)
        if field == "":  # the body as a whole is at fault
            self.assertNotIn("field", body)
        elif field is not None:
            self.assertEqual(body.get("field"), field, body)
        return body


class Publish(ApiTestCase):
    def test_a_room_publish_reaches_every_member_on_every_loop_and_no_one_else(self):
        server = self.start()

        async def go():
            alice = await open_client(server, "alice")
            bob = await open_client(server, "bob")  # the next loop (two threads, round robin)
            carol = await open_client(server, "carol")
            for ws, ref in ((alice, 1), (bob, 2)):
                await request(ws, {"event": "join", "id": ref, "payload": {"room": "lobby"}})
            resp = api(server.port, "POST", "/api/publish",
                       {"target": "room:lobby", "event": "news", "payload": {"text": "hi", "n": 1.5}})
            self.assertEqual((resp.status, resp.json()), (200, {"ok": True}), resp)
            for ws in (alice, bob):
                frame = await recv_json(ws)
                self.assertEqual(frame, {"event": "news", "room": "lobby",
                                         "payload": {"text": "hi", "n": 1.5}})
                self.assertNotIn("from", frame)
            await expect_quiet(carol)

        self.arun(go())

    def test_user_and_everyone_targets_and_a_missing_payload_is_null(self):
        server = self.start()

        async def go():
            phone = await open_client(server, "dana")
            laptop = await open_client(server, "dana")
            other = await open_client(server, "erin")
            resp = api(server.port, "POST", "/api/publish", {"target": "user:dana", "event": "dm"})
            self.assertEqual(resp.status, 200, resp)
            for ws in (phone, laptop):
                self.assertEqual(await recv_json(ws), {"event": "dm", "payload": None})
            await expect_quiet(other)
            resp = api(server.port, "POST", "/api/publish",
                       {"target": "*", "event": "maintenance", "payload": [1, "two"]})
            self.assertEqual(resp.status, 200, resp)
            for ws in (phone, laptop, other):
                self.assertEqual(await recv_json(ws),
                                 {"event": "maintenance", "payload": [1, "two"]})

        self.arun(go())

    def test_a_batch_is_delivered_in_order_with_each_items_outcome(self):
        server = self.start()

        async def go():
            ws = await open_client(server, "frank")
            await request(ws, {"event": "join", "id": 1, "payload": {"room": "r"}})
            items = [{"target": "room:r", "event": "seq", "payload": i} for i in range(200)]
            items.insert(50, {"target": "channel:r", "event": "seq"})
            items.insert(100, {"target": "room:r"})
            items.insert(150, "not an object")
            resp = api(server.port, "POST", "/api/publish", items)
            self.assertEqual(resp.status, 200, resp)
            body = resp.json()
            self.assertEqual(body["published"], 200)
            results = body["results"]
            self.assertEqual(len(results), 203)
            self.assertEqual(results[50]["error"], "bad_target")
            self.assertEqual(results[50]["field"], "[50].target")
            self.assertEqual(results[100]["error"], "missing_field")
            self.assertEqual(results[100]["field"], "[100].event")
            self.assertEqual(results[150]["error"], "wrong_type")
            self.assertEqual(results[150]["field"], "[150]")
            self.assertEqual(sum(1 for r in results if r == {"ok": True}), 200)
            got = [(await recv_json(ws))["payload"] for _ in range(200)]
            self.assertEqual(got, list(range(200)))
            await expect_quiet(ws)

        self.arun(go())

    def test_publishes_from_two_requests_keep_their_order(self):
        server = self.start(threads=2)

        async def go():
            ws = await open_client(server, "gina")
            await request(ws, {"event": "join", "id": 1, "payload": {"room": "o"}})
            for i in range(20):  # one connection each: they land on different loops
                resp = api(server.port, "POST", "/api/publish",
                           {"target": "room:o", "event": "n", "payload": i})
                self.assertEqual(resp.status, 200)
            got = [(await recv_json(ws))["payload"] for _ in range(20)]
            self.assertEqual(got, list(range(20)))

        self.arun(go())


class BadRequests(ApiTestCase):
    def test_every_bad_form_of_a_publish_gets_its_error_and_publishes_nothing(self):
        server = self.start()

        async def go():
            ws = await open_client(server, "hank")
            await request(ws, {"event": "join", "id": 1, "payload": {"room": "r"}})
            port = server.port
            cases = [
                (b'{"target": "room:r",', 400, "bad_json", None),
                (b"", 400, "bad_json", None),
                (b"\xff\xfe", 400, "bad_json", None),
                (b'"room:r"', 400, "wrong_type", ""),
                (b'{"target": 5, "event": "e"}', 400, "wrong_type", "target"),
                (b'{"target": "room:r", "event": ["e"]}', 400, "wrong_type", "event"),
                (b'{"event": "e"}', 400, "missing_field", "target"),
                (b'{"target": "room:r"}', 400, "missing_field", "event"),
                (b'{"target": "channel:r", "event": "e"}', 400, "bad_target", "target"),
                (b'{"target": "room:", "event": "e"}', 400, "bad_target", "target"),
                (b'{"target": "user:", "event": "e"}', 400, "bad_target", "target"),
                (b'{"target": "room:' + b"x" * 300 + b'", "event": "e"}', 400, "bad_target",
                 "target"),
                (b'{"target": "room:r", "event": ""}', 400, "bad_event", "event"),
                (b'{"target": "room:r", "event": "e", "paylaod": 1}', 400, "unknown_field",
                 "paylaod"),
                (b'{"target": "room:r", "event": "e", "payload": 1} trailing', 400, "bad_json",
                 None),
            ]
            for raw, status, code, field in cases:
                with self.subTest(body=raw[:60]):
                    self.assert_error(api(port, "POST", "/api/publish", raw=raw), status, code,
                                      field)
            # Nothing of it reached the member.
            await expect_quiet(ws)

        self.arun(go())

    def test_the_key_route_method_and_size_are_checked_before_the_body_is_read(self):
        server = self.start()
        port = server.port
        good = json.dumps({"target": "*", "event": "e"}).encode()
        no_key = http_request(port, "POST", "/api/publish", {}, good)
        self.assert_error(no_key, 401, "unauthorized")
        self.assertEqual(no_key.headers["www-authenticate"], 'Bearer realm="dispatch"')
        for header in (f"Bearer {API_KEY}x", f"Bearer {API_KEY[:-1]}", "Bearer ", API_KEY,
                       f"Basic {API_KEY}"):
            with self.subTest(header=header[:20]):
                self.assert_error(http_request(port, "POST", "/api/publish",
                                               {"Authorization": header}, good),
                                  401, "unauthorized")
        # A wrong key learns nothing of the routes.
        self.assert_error(http_request(port, "GET", "/api/nowhere",
                                       {"Authorization": "Bearer nope"}), 401, "unauthorized")
        self.assert_error(api(port, "GET", "/api/nowhere"), 404, "not_found")
        self.assert_error(api(port, "GET", "/api/rooms/"), 404, "not_found")
        wrong = api(port, "GET", "/api/publish")
        self.assert_error(wrong, 405, "method_not_allowed")
        self.assertEqual(wrong.headers["allow"], "POST")
        self.assertEqual(api(port, "DELETE", "/api/rooms/x").headers["allow"], "GET")
        too_big = api(port, "POST", "/api/publish", raw=b"[" + b" " * (1024 * 1024) + b"]")
        self.assert_error(too_big, 413, "body_too_large")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"POST /api/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         + f"Authorization: Bearer {API_KEY}\r\n\r\n".encode()
                         + b"2\r\n{}\r\n0\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 411 Length Required\r\n"), answer)
        self.assertIn(b'"error":"length_required"', answer)
        # A 1 MiB body that fits is read whole (one item with a large payload).
        big_payload = json.dumps({"target": "*", "event": "e", "payload": "y" * 1_000_000})
        self.assertEqual(api(port, "POST", "/api/publish", raw=big_payload.encode()).status, 200)
        assert_secrets_not_logged(server, secrets=(API_KEY,))
        metrics = http_request(port, "GET", "/metrics").text
        self.assertIn('dispatch_api_requests_total{route="none",status="401"} 7', metrics)
        self.assertIn('dispatch_api_requests_total{route="publish",status="200"} 1', metrics)

    def test_without_a_key_the_api_is_off(self):
        server = self.start(api={})
        resp = api(server.port, "POST", "/api/publish", {"target": "*", "event": "e"})
        body = self.assert_error(resp, 404, "not_found")
        self.assertIn("api.key", body["message"])

    def test_a_body_that_never_comes_whole_is_dropped_at_the_handshake_timeout(self):
        server = self.start(server={"threads": 1, "handshake_timeout": "300ms"})

        async def go():
            ws = await open_client(server, "ivan")
            await request(ws, {"event": "join", "id": 1, "payload": {"room": "r"}})
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            body = json.dumps({"target": "room:r", "event": "never"}).encode()
            writer.write(b"POST /api/publish HTTP/1.1\r\nHost: x\r\n"
                         + f"Authorization: Bearer {API_KEY}\r\n".encode()
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:-1])
            await writer.drain()
            self.assertEqual(await asyncio.wait_for(reader.read(), 5), b"")  # closed, unanswered
            writer.close()
            await expect_quiet(ws)

        self.arun(go())


class RoomsAndDisconnect(ApiTestCase):
    def test_room_info_lists_the_connections_on_every_loop(self):
        server = self.start(threads=2)

        async def go():
            a1 = await open_client(server, "alice")
            a2 = await open_client(server, "alice")
            b = await open_client(server, "bob")
            for i, ws in enumerate((a1, a2, b)):
                await request(ws, {"event": "join", "id": i, "payload": {"room": "chat:1/a b"}})
            resp = api(server.port, "GET", "/api/rooms/chat:1%2Fa%20b")
            self.assertEqual(resp.status, 200, resp)
            info = resp.json()
            self.assertEqual(info["room"], "chat:1/a b")
            self.assertEqual(info["connection_count"], 3)
            self.assertEqual(info["user_count"], 2)
            self.assertEqual(sorted((c["id"], c["user"]) for c in info["connections"]),
                             sorted([(a1.conn_id, "alice"), (a2.conn_id, "alice"),
                                     (b.conn_id, "bob")]))
            await b.close()
            await expect_quiet(a1)
            empty = api(server.port, "GET", "/api/rooms/nobody-here").json()
            self.assertEqual(empty, {"room": "nobody-here", "connection_count": 0,
                                     "user_count": 0, "connections": []})

        self.arun(go())

    def test_disconnect_closes_every_connection_of_the_user_with_4003(self):
        server = self.start(threads=2)

        async def go():
            m1 = await open_client(server, "mallory")
            m2 = await open_client(server, "mallory")
            other = await open_client(server, "olivia")
            resp = api(server.port, "POST", "/api/disconnect",
                       {"user": "mallory", "reason": "banned by a moderator"})
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.json(), {"user": "mallory", "connections": 2})
            for ws in (m1, m2):
                code, reason, _ = await expect_close(ws)
                self.assertEqual((code, reason), (4003, "banned by a moderator"))
            await expect_quiet(other)
            nobody = api(server.port, "POST", "/api/disconnect", {"user": "ghost"})
            self.assertEqual(nobody.json(), {"user": "ghost", "connections": 0})

        self.arun(go())

    def test_bad_disconnect_bodies(self):
        server = self.start()
        port = server.port
        for raw, code, field in [(b"[]", "wrong_type", ""), (b"{}", "missing_field", "user"),
                                 (b'{"user": ""}', "missing_field", "user"),
                                 (b'{"user": 7}', "wrong_type", "user"),
                                 (b'{"user": "u", "reason": 1}', "wrong_type", "reason"),
                                 (b'{"user": "u", "reason": "' + b"r" * 124 + b'"}',
                                  "reason_too_long", "reason"),
                                 (b'{"user": "u", "why": "x"}', "unknown_field", "why"),
                                 (b"{", "bad_json", None)]:
            with self.subTest(body=raw[:40]):
                self.assert_error(api(port, "POST", "/api/disconnect", raw=raw), 400, code, field)


class Reload(ApiTestCase):
    def test_reload_applies_a_good_config_and_refuses_a_bad_one_with_its_errors(self):
        server = self.start()

        async def go():
            ws = await open_client(server, "quinn")
            server.write_config(free_config(EVENTS + EXTRA_EVENT, server={"threads": 2},
                                            api={"key": API_KEY}))
            resp = api(server.port, "POST", "/api/reload")
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.json()["config_version"], 2)
            frames = await request(ws, {"event": "added", "id": 1})
            self.assertEqual(frames[0]["event"], "added")

            server.write_config(free_config(EVENTS + EXTRA_EVENT + """
broken:
  actions:
    - name: _no_such_action
""", server={"threads": 2}, api={"key": API_KEY}))
            bad = api(server.port, "POST", "/api/reload")
            body = self.assert_error(bad, 400, "invalid_config")
            self.assertEqual(body["config_version"], 2)
            self.assertTrue(any("_no_such_action" in e for e in body["errors"]), body)
            self.assertTrue(all(":" in e for e in body["errors"]), body)  # file:line:col
            server.wait_for_log(lambda l: l.get("msg", "").startswith("config reload refused"))
            # The running config stays, and the connection too.
            frames = await request(ws, {"event": "added", "id": 2})
            self.assertEqual(frames[0]["event"], "added")
            metrics = http_request(server.port, "GET", "/metrics").body.decode()
            self.assertIn("dispatch_config_version 2", metrics)
            self.assertIn('dispatch_config_reloads_total{result="refused"} 1', metrics)
            self.assertIn('dispatch_api_requests_total{route="reload",status="200"} 1', metrics)
            self.assertIn('dispatch_api_requests_total{route="reload",status="400"} 1', metrics)

        self.arun(go())

    def test_dropping_an_event_in_use_is_refused_once_then_applied(self):
        server = self.start()

        async def go():
            ws = await open_client(server, "rita")
            await request(ws, {"event": "echo", "id": 1, "payload": {"n": 1}})
            server.write_config(free_config("""
join:
  actions:
    - name: _join
      params: ["{$user.id}", "{.room}"]
""", server={"threads": 2}, api={"key": API_KEY}))
            first = api(server.port, "POST", "/api/reload")
            body = self.assert_error(first, 409, "events_in_use")
            self.assertEqual(body["events"], "echo")
            second = api(server.port, "POST", "/api/reload")
            self.assertEqual((second.status, second.json()["config_version"]), (200, 2), second)

        self.arun(go())

    def test_reloads_under_traffic_drop_no_connection_and_lose_no_message(self):
        server = self.start(threads=2)

        async def go():
            clients = [await open_client(server, f"user{i}") for i in range(8)]
            stop = asyncio.Event()
            answered = [0] * len(clients)

            async def chat(index, ws):
                n = 0
                while not stop.is_set():
                    n += 1
                    frames = await request(ws, {"event": "echo", "id": n, "payload": {"n": n}})
                    self.assertEqual(frames[0], {"event": "echoed", "ref": n,
                                                 "payload": {"n": n}}, frames)
                    answered[index] += 1

            tasks = [asyncio.create_task(chat(i, ws)) for i, ws in enumerate(clients)]
            loop = asyncio.get_running_loop()
            versions = []
            for _ in range(5):
                resp = await loop.run_in_executor(None, api, server.port, "POST", "/api/reload")
                self.assertEqual(resp.status, 200, resp)
                versions.append(resp.json()["config_version"])
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.gather(*tasks)
            self.assertEqual(versions, [2, 3, 4, 5, 6])
            self.assertTrue(all(count > 0 for count in answered), answered)
            for ws in clients:
                await expect_quiet(ws, "echo")  # still open, still answering
            self.assertEqual([ws.close_code for ws in clients], [None] * len(clients))

        self.arun(go(), timeout=60)


def doc_snippet(language: str, needle: str) -> str:
    """The snippet of docs/API.md in `language` that contains `needle`, as a user would copy it."""
    with open(os.path.join(REPO, "docs", "API.md"), encoding="utf-8") as f:
        blocks = [b for b in re.findall(r"```" + language + r"\n(.*?)```", f.read(), re.S)
                  if needle in b]
    if len(blocks) != 1:
        raise AssertionError(f"docs/API.md should hold one {language} snippet with {needle!r}")
    return blocks[0]


class DocumentedSnippets(ApiTestCase):
    def test_the_python_and_node_examples_of_the_docs_publish(self):
        server = self.start()
        base = f"http://127.0.0.1:{server.port}"

        async def go():
            alice = await open_client(server, "alice")
            await request(alice, {"event": "join", "id": 1, "payload": {"room": "lobby"}})
            python = doc_snippet("python", "def publish").replace("http://127.0.0.1:8080", base)
            loop = asyncio.get_running_loop()

            def run_python():
                os.environ["DISPATCH_API_KEY"] = API_KEY
                try:
                    exec(python, {})  # noqa: S102 - the documented snippet, run as written
                finally:
                    del os.environ["DISPATCH_API_KEY"]

            await loop.run_in_executor(None, run_python)
            self.assertEqual(await recv_json(alice), {"event": "new_message", "room": "lobby",
                                                      "payload": {"text": "deploy done"}})
            node = doc_snippet("js", "fetch(").replace("http://127.0.0.1:8080", base)
            result = await loop.run_in_executor(None, lambda: subprocess.run(
                ["node", "--input-type=module", "-e", node], capture_output=True, text=True,
                timeout=30, env={**os.environ, "DISPATCH_API_KEY": API_KEY}))
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(result.stdout.strip(), "200 { ok: true }")
            self.assertEqual(await recv_json(alice), {"event": "notification",
                                                      "payload": {"unread": 3}})

        self.arun(go())


class AdminAddress(ApiTestCase):
    def test_metrics_and_api_are_served_only_on_the_admin_listener(self):
        server = self.start(server={"threads": 1, "admin_address": "127.0.0.1:0"})
        admin = server.wait_for_log(lambda l: l.get("msg") == "admin listening")["port"]
        self.assertNotEqual(admin, server.port)

        async def go():
            ws = await open_client(server, "sam")  # the WebSocket endpoint stays on the main port
            await request(ws, {"event": "join", "id": 1, "payload": {"room": "r"}})
            self.assertEqual(api(admin, "POST", "/api/publish",
                                 {"target": "room:r", "event": "e"}).status, 200)
            self.assertEqual((await recv_json(ws))["event"], "e")

        self.arun(go())
        self.assertEqual(http_request(admin, "GET", "/metrics").status, 200)
        self.assertIn("dispatch_connections", http_request(admin, "GET", "/metrics").text)
        for path in ("/healthz", "/readyz"):
            self.assertEqual(http_request(admin, "GET", path).status, 200)
            self.assertEqual(http_request(server.port, "GET", path).status, 200)
        self.assertEqual(http_request(server.port, "GET", "/metrics").status, 404)
        self.assertEqual(api(server.port, "POST", "/api/publish",
                             {"target": "*", "event": "e"}).status, 404)
        self.assertEqual(http_request(admin, "GET", "/ws").status, 404)
        self.assertEqual(http_request(admin, "GET", "/").status, 404)

    def test_an_admin_address_equal_to_the_main_one_is_a_config_error(self):
        from dispatch_harness import run_dispatch
        config = free_config(EVENTS, address="127.0.0.1:18123",
                             server={"admin_address": "127.0.0.1:18123"})
        result = run_dispatch(["check", "--config", "{config}"], config)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("server.admin_address is server.address", result.stdout + result.stderr)


if __name__ == "__main__":
    unittest.main()
