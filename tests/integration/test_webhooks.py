"""Webhooks (issue 10, part 2; SPEC 5): `_webhook` POSTs the filled body to a declared target
over a real socket to a real HTTP receiver started here, with X-Dispatch-Event, a delivery id
that stays the same on retries, and an HMAC signature the backend can check with the snippet of
docs/CONFIG.md (executed here as written). 5xx and timeouts are retried, 4xx is not; a full queue
drops and counts (in the log); a hanging backend never delays the sender's ack."""

import hashlib
import hmac
import http.server
import json
import os
import re
import subprocess
import threading
import time
import unittest

from dispatch_harness import DispatchTestCase, free_config, open_client, request
from test_preauth import http_get

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET = "webhook-secret-for-tests-0123456789"


class Receiver:
    """An HTTP/1.1 server on a free loopback port. The URL path picks the behaviour:
    /ok answers 204, /e500 500, /e400 400, /flaky 500 to a delivery id's first attempt and then
    204, /stale answers 204 and then closes the connection without saying so, /hang never
    answers until release() (or 60 s)."""

    def __init__(self):
        self.requests = []  # (path, headers dict, body bytes), in arrival order
        self.cond = threading.Condition()
        self.released = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.cond:
                    seen_before = any(r[1].get("X-Dispatch-Delivery") ==
                                      self.headers.get("X-Dispatch-Delivery")
                                      for r in receiver.requests)
                    receiver.requests.append((self.path, dict(self.headers.items()), body))
                    receiver.cond.notify_all()
                if self.path == "/hang":
                    receiver.released.wait(60)
                    status = 204
                elif self.path == "/e500" or (self.path == "/flaky" and not seen_before):
                    status = 500
                elif self.path == "/e400":
                    status = 400
                else:
                    status = 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                # /stale: keep-alive as far as the client knows, but closed right after.
                self.close_connection = self.path == "/stale"

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, predicate, timeout=20.0):
        """The recorded requests once predicate(requests) holds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.requests):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"receiver: condition not met; got {self.requests}")
                self.cond.wait(remaining)
            return list(self.requests)

    def on(self, path):
        with self.cond:
            return [r for r in self.requests if r[0] == path]

    def close(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def snippet(language):
    """The signature-checking snippet of docs/CONFIG.md, as a user would copy it."""
    with open(os.path.join(REPO, "docs", "CONFIG.md"), encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"```" + language + r"\n(.*?)```", text, re.S)
    found = [b for b in blocks if "verify" in b and "signature" in b.lower()]
    if len(found) != 1:
        raise AssertionError(f"docs/CONFIG.md should hold one {language} verification snippet")
    return found[0]


def python_verifier():
    scope = {}
    exec(snippet("python"), scope)  # noqa: S102 - the documented snippet, run as written
    return scope["verify_dispatch_signature"]


def config_for(receiver, targets):
    webhooks = "webhooks:\n" + "".join(
        f"  {name}: {{url: \"{receiver.url(path)}\"{extra}}}\n"
        for name, (path, extra) in targets.items())
    events = "\n".join(f"""
to_{name}:
  actions:
    - name: _webhook
      params: [{name}, '{{"user": "{{$user.id}}", "text": "{{.payload.text}}", "n": {{.payload.n}}}}']
""" for name in targets)
    return free_config(events, extra=webhooks)


class Webhooks(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        cls.addClassCleanup(cls.receiver.close)
        fast = ", timeout: 1s, retries: 2"
        cls.server = cls.start_class_server(config_for(cls.receiver, {
            "ok": ("/ok", f", secret: \"{SECRET}\""),
            "e500": ("/e500", fast),
            "e400": ("/e400", fast),
            "flaky": ("/flaky", fast),
            "hang": ("/hang", ", timeout: 1s, retries: 1"),
            "plain": ("/plain", ""),
            "stale": ("/stale", ", retries: 0"),
        }))

    def send(self, event, text, n, sub="alice"):
        async def go():
            ws = await open_client(self.server, sub)
            frames = await request(ws, {"event": event, "id": 1,
                                        "payload": {"text": text, "n": n}})
            await ws.close()
            return frames
        frames = self.arun(go())
        self.assertEqual(frames[-1]["event"], "ack", frames)

    def test_body_headers_and_signature(self):
        self.send("to_ok", 'say "hi"', 7)
        [(path, headers, body)] = self.receiver.wait_for(
            lambda rs: any(r[0] == "/ok" for r in rs)) and self.receiver.on("/ok")
        self.assertEqual(json.loads(body), {"user": "alice", "text": 'say "hi"', "n": 7})
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["X-Dispatch-Event"], "to_ok")
        self.assertRegex(headers["X-Dispatch-Delivery"], r"^[0-9a-f]{32}$")
        signature = headers["X-Dispatch-Signature"]
        match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", signature)
        self.assertIsNotNone(match, signature)
        t = match.group(1)
        self.assertLess(abs(int(t) - time.time()), 60)
        expected = hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        self.assertEqual(match.group(2), expected)
        # The documented snippets accept it, and refuse it with another secret or body.
        verify = python_verifier()
        self.assertTrue(verify(SECRET, body, signature))
        self.assertFalse(verify("another-secret", body, signature))
        self.assertFalse(verify(SECRET, body + b" ", signature))
        node = (snippet("js") + "\nconst [secret, body, header] = process.argv.slice(1);\n"
                "process.stdout.write(String(verifyDispatchSignature(secret, Buffer.from(body), "
                "header)));\n")
        for secret, expected_answer in ((SECRET, "true"), ("another-secret", "false")):
            answer = subprocess.run(["node", "-e", node, secret, body.decode(), signature],
                                    capture_output=True, text=True, timeout=30)
            self.assertEqual(answer.stdout, expected_answer, answer.stderr)

    def test_unsigned_target_has_no_signature_header(self):
        self.send("to_plain", "x", 1)
        [(_, headers, _)] = self.receiver.wait_for(
            lambda rs: any(r[0] == "/plain" for r in rs)) and self.receiver.on("/plain")
        self.assertNotIn("X-Dispatch-Signature", headers)

    def test_a_keep_alive_connection_the_backend_closed_is_reopened_without_a_retry(self):
        # retries: 0, so the second delivery arrives only because a connection found closed
        # when reused is opened again without counting as an attempt.
        self.send("to_stale", "first", 1)
        self.receiver.wait_for(lambda rs: len([r for r in rs if r[0] == "/stale"]) == 1)
        self.send("to_stale", "second", 2)
        requests = self.receiver.wait_for(
            lambda rs: len([r for r in rs if r[0] == "/stale"]) == 2)
        bodies = [json.loads(b)["text"] for p, _, b in requests if p == "/stale"]
        self.assertEqual(bodies, ["first", "second"])

    def test_5xx_is_retried_with_the_same_delivery_id_then_counted_as_failed(self):
        mark = self.server.log_mark()
        self.send("to_e500", "retry me", 2)
        # retries: 2 → three attempts in all.
        attempts = self.receiver.wait_for(lambda rs: len([r for r in rs if r[0] == "/e500"]) >= 3)
        attempts = [r for r in attempts if r[0] == "/e500"]
        self.assertEqual(len({h["X-Dispatch-Delivery"] for _, h, _ in attempts}), 1)
        self.assertEqual({b for _, _, b in attempts}, {attempts[0][2]})
        line = self.server.wait_for_log(
            lambda l: l.get("msg") == "webhook deliveries lost" and l.get("target") == "e500",
            20, since=mark)
        self.assertEqual(line["failed_total"], 1)
        self.assertIn("HTTP 500", line["last_reason"])
        self.assertEqual(line["retried_total"], 2)
        # /metrics says the same, by target and outcome.
        metrics = http_get(self.server.port, "/metrics").body.decode()
        self.assertIn('dispatch_webhook_deliveries_total{target="e500",outcome="failed"} 1\n',
                      metrics)
        self.assertIn('dispatch_webhook_retries_total{target="e500"} 2\n', metrics)
        check = subprocess.run(["promtool", "check", "metrics"], input=metrics, text=True,
                               capture_output=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_a_retry_after_500_delivers(self):
        self.send("to_flaky", "second time lucky", 3)
        attempts = self.receiver.wait_for(lambda rs: len([r for r in rs if r[0] == "/flaky"]) >= 2)
        attempts = [r for r in attempts if r[0] == "/flaky"]
        self.assertEqual(attempts[0][1]["X-Dispatch-Delivery"],
                         attempts[1][1]["X-Dispatch-Delivery"])

    def test_4xx_is_final(self):
        mark = self.server.log_mark()
        self.send("to_e400", "bad", 4)
        line = self.server.wait_for_log(
            lambda l: l.get("msg") == "webhook deliveries lost" and l.get("target") == "e400",
            20, since=mark)
        self.assertEqual(line["last_reason"], "HTTP 400")
        self.assertEqual((line["failed_total"], line["retried_total"]), (1, 0))
        self.assertEqual(len(self.receiver.on("/e400")), 1)

    def test_a_hanging_backend_times_out_and_is_retried(self):
        mark = self.server.log_mark()
        self.send("to_hang", "slow", 5)
        line = self.server.wait_for_log(
            lambda l: (l.get("msg") == "webhook deliveries lost" and l.get("target") == "hang"
                       and "timeout" in l.get("last_reason", "")), 30, since=mark)
        self.assertEqual(line["retried_total"], 1)
        attempts = self.receiver.on("/hang")
        self.assertEqual(len(attempts), 2)
        self.assertEqual(attempts[0][1]["X-Dispatch-Delivery"], attempts[1][1]["X-Dispatch-Delivery"])


class WebhookOverflow(DispatchTestCase):
    """A backend that hangs: the queue fills, what overflows is dropped, counted and logged (not
    one line per message), and the sender's messages are acked all the same."""

    def test_overflow_is_counted_and_the_sender_is_never_slowed(self):
        receiver = Receiver()
        self.addCleanup(receiver.close)
        server = self.start_server(config_for(receiver, {
            "hang": ("/hang", ", timeout: 2s, retries: 0, queue: 3")}))
        sent = 40

        async def go():
            ws = await open_client(server, "bob")
            for i in range(sent):
                frames = await request(ws, {"event": "to_hang", "id": i,
                                            "payload": {"text": "x", "n": i}})
                assert frames[-1]["event"] == "ack", frames
            await ws.close()

        self.arun(go())
        # Every delivery ends up dropped (queue full) or failed (timed out, no retries).
        line = server.wait_for_log(
            lambda l: (l.get("msg") == "webhook deliveries lost"
                       and l.get("dropped_total", 0) + l.get("failed_total", 0) == sent), 60)
        self.assertGreater(line["dropped_total"], 0)
        lost_lines = [l for l in server.logs() if l.get("msg") == "webhook deliveries lost"]
        self.assertLess(len(lost_lines), 10, "lost deliveries must be logged per interval")
        self.assertEqual(sum(l["dropped"] for l in lost_lines), line["dropped_total"])

    def test_the_server_stops_cleanly_with_a_delivery_in_flight(self):
        receiver = Receiver()
        self.addCleanup(receiver.close)
        server = self.start_server(config_for(receiver, {
            "hang": ("/hang", ", timeout: 30s, retries: 3")}))
        self.send_to(server, "to_hang")
        receiver.wait_for(lambda rs: len(rs) == 1)
        self.assertEqual(server.stop(), 0)

    def send_to(self, server, event):
        async def go():
            ws = await open_client(server, "carol")
            frames = await request(ws, {"event": event, "id": 1, "payload": {"text": "t", "n": 1}})
            await ws.close()
            return frames
        self.assertEqual(self.arun(go())[-1]["event"], "ack")


if __name__ == "__main__":
    unittest.main()
