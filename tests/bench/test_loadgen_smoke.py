"""Smoke test of the benchmark load generator (bench/loadgen.cpp) against the real server.

Not a benchmark: a few hundred messages at a low rate, to prove that the generator and the
server agree on every count. Starts $DISPATCH_BIN with bench/sanity-config.yaml on a free port
and runs $DISPATCH_LOADGEN for echo (10 connections, 300 messages/s for 1 s: every request has
its exact reply), fan-out (10 members, 30 publishes: every member gets every message, in
order) and recover (20 members of a history room miss 10 messages and get exactly them back). Registered as bench.loadgen_smoke (label bench-smoke) by tests/CMakeLists.txt.
"""

import json
import os
import socket
import subprocess
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "bench", "sanity-config.yaml")
SECRET = "loadgen-smoke-secret-0123456789abcdef0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoadgenSmoke(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server_bin = os.environ.get("DISPATCH_BIN", os.path.join(ROOT, "build", "dispatch"))
        cls.loadgen = os.environ.get("DISPATCH_LOADGEN", os.path.join(ROOT, "build", "tests", "dispatch_loadgen"))
        for path in (cls.server_bin, cls.loadgen):
            if not os.access(path, os.X_OK):
                raise FileNotFoundError(f"not built: {path} (build first, or set DISPATCH_BIN / DISPATCH_LOADGEN)")
        cls.port = free_port()
        env = dict(os.environ, DISPATCH_BENCH_PORT=str(cls.port), DISPATCH_JWT_SECRET=SECRET)
        cls.server = subprocess.Popen([cls.server_bin, "serve", "--config", CONFIG], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", cls.port), timeout=0.5).close()
                break
            except OSError:
                if cls.server.poll() is not None or time.time() > deadline:
                    out = cls.server.communicate(timeout=5)[0] if cls.server.poll() is not None else b""
                    raise RuntimeError("dispatch did not start: " + out.decode(errors="replace"))
                time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        try:
            cls.server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            cls.server.kill()
            cls.server.wait()

    def loadgen_run(self, *args):
        cmd = [self.loadgen, *args, "--port", str(self.port), "--secret", SECRET,
               "--server-pid", str(self.server.pid), "--warmup", "0", "--drain", "5",
               "--setup-timeout", "10"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        self.assertTrue(out.stdout.strip(), "no output; stderr: " + out.stderr)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual(out.returncode, 0, res)
        self.assertTrue(res["ok"], res)
        for key in ("errors", "unexpected", "disconnects"):
            self.assertEqual(res[key], 0, (key, res))
        self.assertEqual(res.get("missing", 0), 0, res)
        self.assertIsNone(self.server.poll(), "the server exited")
        return res

    def test_echo_every_request_has_its_reply(self):
        res = self.loadgen_run("echo", "--conns", "10", "--rate", "300", "--seconds", "1", "--size", "64")
        self.assertGreaterEqual(res["sent"], 250, res)
        self.assertLessEqual(res["sent"], 330, res)
        self.assertEqual(res["received"], res["sent"], res)
        self.assertEqual(res["missing"], 0, res)

    def test_fanout_every_member_gets_every_message_in_order(self):
        res = self.loadgen_run("fanout", "--members", "10", "--rate", "30", "--seconds", "1", "--size", "64")
        self.assertGreaterEqual(res["published"], 25, res)
        self.assertEqual(res["deliveries_total"], res["published"] * 10, res)
        self.assertEqual(res["order_errors"], 0, res)

    def test_runs_side_by_side_with_users_of_their_own(self):
        # A fan-out's `_join` joins every connection of its users: with --id-base, an echo run
        # beside it (users u200...) gets no delivery meant for the members (u100...).
        cmd = [self.loadgen, "echo", "--conns", "5", "--rate", "50", "--seconds", "4", "--size",
               "64", "--port", str(self.port), "--secret", SECRET, "--warmup", "0", "--drain",
               "1", "--setup-timeout", "10", "--threads", "1", "--id-base", "200"]
        echo = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.wait_for_connections(5)
            fanout = self.loadgen_run("fanout", "--members", "5", "--rate", "30", "--seconds", "1",
                                      "--size", "64", "--id-base", "100")
            out, err = echo.communicate(timeout=30)
        finally:
            if echo.poll() is None:
                echo.kill()
                echo.wait()
        self.assertEqual(fanout["deliveries_total"], fanout["published"] * 5, fanout)
        self.assertTrue(out.strip(), "no output; stderr: " + err)
        res = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(echo.returncode, 0, res)
        self.assertEqual(res["unexpected"], 0, res)
        self.assertEqual(res["received"], res["sent"], res)

    def wait_for_connections(self, count):
        """Until the server counts `count` open connections (GET /metrics)."""
        deadline = time.time() + 10
        while True:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                body = b""
                while chunk := sock.recv(65536):
                    body += chunk
            if f"\ndispatch_connections {count}\n".encode() in body:
                return
            self.assertLess(time.time(), deadline, body.decode(errors="replace")[-2000:])
            time.sleep(0.05)

    def test_recover_every_member_gets_exactly_what_it_missed(self):
        res = self.loadgen_run("recover", "--members", "20", "--messages", "10", "--room", "hist:smoke",
                               "--id-base", "300")
        self.assertEqual(res["published"], 10, res)
        self.assertEqual(res["replayed"], 200, res)
        self.assertEqual(res["recovered_ok"], 20, res)
        self.assertEqual(res["acked"], 20, res)
        self.assertEqual(res["order_errors"], 0, res)

    def test_recover_baseline_rejoins_a_plain_room_without_replay(self):
        res = self.loadgen_run("recover", "--members", "20", "--messages", "10", "--room", "plain:smoke",
                               "--since", "0", "--id-base", "400")
        self.assertEqual(res["replayed"], 0, res)
        self.assertEqual(res["acked"], 20, res)

    def test_recover_reports_a_gap_the_room_no_longer_holds(self):
        # 15 missed messages in a room keeping 10: the server answers ok:false and replays
        # nothing, which the generator must count as a failed run.
        cmd = [self.loadgen, "recover", "--members", "5", "--messages", "15", "--room", "hist:gap",
               "--id-base", "500", "--port", str(self.port), "--secret", SECRET, "--setup-timeout", "10"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual(out.returncode, 1, res)
        self.assertFalse(res["ok"], res)
        self.assertEqual(res["recovered_ok"], 0, res)
        self.assertIn('"ok":false', res["first_problem"], res)

    def test_handshakes_complete(self):
        res = self.loadgen_run("handshake", "--concurrency", "4", "--seconds", "0.5")
        self.assertGreater(res["handshakes"], 0, res)
        self.assertEqual(res["lat_samples"], res["handshakes"], res)


if __name__ == "__main__":
    unittest.main()
