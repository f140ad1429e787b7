"""What a client can cost the server before it is authenticated (issue 8, part 2): sockets in
their handshake count toward server.max_connections and per IP toward
server.max_handshakes_per_ip; static files are streamed within their own limits and never cost
a WebSocket client anything; logging never stalls an event loop, however slowly its output is
read. Running out of file descriptors (503, no busy loop, recovery) is tested in
test_policy.AcceptBackoff."""

import asyncio
import os
import socket
import subprocess
import tempfile
import time
import unittest

from dispatch_harness import (
    DEFAULT_ENV, LOCALHOST, DispatchTestCase, HttpResponse, _read_body,
    _read_head, dispatch_bin, free_config, free_port, make_token, open_client, request,
    require_binary,
)

EVENTS = """
ping:
  actions:
    - name: _reply
      params: ["pong", '{"ok": true}']
"""

SECOND_IP = "127.0.0.2"  # loopback is 127.0.0.0/8: another client address on the same host


def silent_socket(port: int, source: str = LOCALHOST) -> socket.socket:
    """A client that connects and sends nothing (a handshake that never finishes)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.bind((source, 0))
    sock.connect((LOCALHOST, port))
    return sock


def http_get(port: int, path: str, *, source: str = LOCALHOST, headers=(), method: str = "GET",
             timeout: float = 10.0) -> HttpResponse:
    """One request from `source`; the whole response (head and body)."""
    with silent_socket(port, source) as sock:
        sock.settimeout(timeout)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {LOCALHOST}:{port}", "Connection: close",
                 *[f"{k}: {v}" for k, v in headers]]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, rheaders, rest = _read_head(sock, b"")
        body = _read_body(sock, rheaders, rest, method, status)
    return HttpResponse(status, rheaders, body)


def upgraded_socket(port: int, sub: str, source: str = LOCALHOST, extra=()):
    """(socket, response): a WebSocket upgrade request from `source`; the socket stays open
    (a connected client when the response is 101)."""
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
               ("Authorization", f"Bearer {make_token(sub)}"), *extra]
    sock = silent_socket(port, source)
    lines = ["GET /ws HTTP/1.1", f"Host: {LOCALHOST}:{port}", *[f"{k}: {v}" for k, v in headers]]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    status, rheaders, rest = _read_head(sock, b"")
    body = b"" if status == 101 else _read_body(sock, rheaders, rest, "GET", status)
    return sock, HttpResponse(status, rheaders, body)


def upgrade_from(port: int, source: str, sub: str) -> HttpResponse:
    sock, response = upgraded_socket(port, sub, source)
    sock.close()
    return response


def wait_closed_by_server(tc, sock: socket.socket) -> None:
    """Blocks until the server closes the socket (EOF or reset); fails after its timeout."""
    try:
        data = sock.recv(4096)
    except ConnectionResetError:
        return
    except socket.timeout:
        tc.fail("the server did not close the silent socket")
    tc.assertEqual(data, b"")


def eventually(tc, attempt, what: str, timeout: float = 5.0):
    """attempt() until it returns something truthy: a release on the server is asynchronous."""
    deadline = time.monotonic() + timeout
    while True:
        result = attempt()
        if result:
            return result
        if time.monotonic() >= deadline:
            tc.fail(f"{what}: still not so after {timeout}s (last: {result!r})")
        time.sleep(0.05)


def vm_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def exchange(tc, ws, count: int, first_id: int = 1) -> None:
    for ref in range(first_id, first_id + count):
        frames = await request(ws, {"event": "ping", "id": ref}, timeout=10)
        tc.assertEqual([f["event"] for f in frames], ["pong", "ack"], frames)


# --------------------------------------------------------------------------------------------
# Handshakes count toward server.max_connections
# --------------------------------------------------------------------------------------------

class HandshakesCount(DispatchTestCase):
    def test_half_open_handshakes_fill_the_server_until_they_close_or_time_out(self):
        server = self.start_server(free_config(EVENTS, server={
            "max_connections": 2, "handshake_timeout": "2s", "threads": 1}))
        first, second = silent_socket(server.port), silent_socket(server.port)
        try:
            # Accepted in order: the third socket comes after the two silent ones.
            resp = upgrade_from(server.port, LOCALHOST, "third")
            self.assertEqual(resp.status, 503, resp)
            self.assertEqual(resp.json()["error"], "server_full", resp)
            self.assertIn("max_connections", resp.json()["message"])

            first.close()  # its place is given back
            resp = eventually(self, lambda: (r := upgrade_from(server.port, LOCALHOST, "fourth"))
                              .status == 101 and r, "a closed handshake frees its place")
            self.assertEqual(resp.status, 101)

            wait_closed_by_server(self, second)  # handshake_timeout: its place is given back too
            resp = eventually(self, lambda: (r := upgrade_from(server.port, LOCALHOST, "fifth"))
                              .status == 101 and r, "a timed-out handshake frees its place")
        finally:
            first.close()
            second.close()


# --------------------------------------------------------------------------------------------
# server.max_handshakes_per_ip
# --------------------------------------------------------------------------------------------

class HandshakesPerIp(DispatchTestCase):
    def test_one_address_cannot_hold_more_handshakes_and_others_are_unaffected(self):
        server = self.start_server(free_config(EVENTS, server={
            "max_handshakes_per_ip": 3, "threads": 1}))
        silent = [silent_socket(server.port) for _ in range(3)]
        try:
            resp = upgrade_from(server.port, LOCALHOST, "fourth")
            self.assertEqual(resp.status, 429, resp)
            self.assertEqual(resp.json()["error"], "too_many_handshakes", resp)
            self.assertIn("max_handshakes_per_ip", resp.json()["message"])
            # Another address is not affected, and WebSocket clients of the first are not either.
            self.assertEqual(upgrade_from(server.port, SECOND_IP, "other").status, 101)

            silent[0].close()
            eventually(self, lambda: upgrade_from(server.port, LOCALHOST, "again").status == 101,
                       "a closed handshake frees its address's place")
        finally:
            for sock in silent:
                sock.close()

    def test_default_lets_a_burst_from_one_address_through(self):
        server = self.start_server(free_config(EVENTS, server={"threads": 1}))
        silent = [silent_socket(server.port) for _ in range(200)]
        try:
            self.assertEqual(upgrade_from(server.port, LOCALHOST, "user").status, 101)
        finally:
            for sock in silent:
                sock.close()


# --------------------------------------------------------------------------------------------
# Static files: streamed, bounded, and never at a WebSocket client's expense
# --------------------------------------------------------------------------------------------

class StaticFiles(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="dispatch-static-")
        cls.big = os.urandom(16 * 1024 * 1024)
        with open(os.path.join(cls.root, "big.bin"), "wb") as f:
            f.write(cls.big)
        cls.huge = os.urandom(20 * 1024 * 1024)
        with open(os.path.join(cls.root, "huge.bin"), "wb") as f:
            f.write(cls.huge)
        with open(os.path.join(cls.root, "index.html"), "w") as f:
            f.write("<!doctype html><title>hi</title>")

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.root, ignore_errors=True)

    def start(self, **server):
        return self.start_server(free_config(EVENTS, server={"static_dir": self.root, **server}))

    def stalled_download(self, port: int, source: str, path: str = "/big.bin") -> socket.socket:
        """Asks for a file, reads the status line, then never reads again."""
        sock = silent_socket(port, source)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.assertTrue(sock.recv(12).startswith(b"HTTP/1.1"))
        return sock

    def test_a_reader_gets_a_large_file_whole(self):
        server = self.start()
        resp = http_get(server.port, "/huge.bin", timeout=30)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.headers["content-length"], str(len(self.huge)))
        self.assertEqual(resp.headers["content-type"], "application/octet-stream")
        self.assertTrue(resp.body == self.huge, "the body differs from the file")
        small = http_get(server.port, "/")
        self.assertEqual((small.status, small.body), (200, b"<!doctype html><title>hi</title>"))
        head = http_get(server.port, "/big.bin", method="HEAD")
        self.assertEqual((head.status, head.headers["content-length"], head.body),
                         (200, str(len(self.big)), b""))
        self.assertEqual(http_get(server.port, "/nope.bin").status, 404)

    def test_a_slow_steady_reader_gets_the_whole_file(self):
        """Reading about 1 MiB/s, the download lasts well beyond any fixed cut."""
        server = self.start(threads=1)
        with silent_socket(server.port) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = _read_head(sock, b"")
            self.assertEqual(status, 200)
            body = bytearray(body)
            while len(body) < len(self.big):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
                time.sleep(0.05)
        self.assertEqual(len(body), len(self.big))
        self.assertTrue(bytes(body) == self.big, "the body differs from the file")

    def test_stalled_downloads_cost_websocket_clients_nothing(self):
        server = self.start(threads=2)
        # 80 downloads of 16 MiB that are never read, from 10 addresses (within the per-IP cap).
        stalled = []
        try:
            async def go():
                ws = await open_client(server, "chatty")
                await exchange(self, ws, 5)
                for n in range(80):
                    stalled.append(self.stalled_download(server.port, f"127.0.0.{10 + n % 10}"))
                    if n % 10 == 9:
                        await exchange(self, ws, 1, first_id=100 + n)
                await exchange(self, ws, 200, first_id=1000)
                self.assertIsNone(ws.close_code)
                rss = vm_rss_bytes(server.pid)
                self.assertLess(rss, 200 * 1024 * 1024, f"server RSS {rss / 2**20:.0f} MiB")
                # A prompt reader still gets the whole file meanwhile.
                resp = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: http_get(server.port, "/huge.bin", source=SECOND_IP, timeout=30))
                self.assertEqual(resp.status, 200)
                self.assertTrue(resp.body == self.huge, "the body differs from the file")
                await exchange(self, ws, 5, first_id=5000)
            self.arun(go(), timeout=120)
        finally:
            for sock in stalled:
                sock.close()

    def test_downloads_per_address_are_capped(self):
        server = self.start(threads=1)
        stalled = [self.stalled_download(server.port, "127.0.0.3") for _ in range(8)]
        try:
            resp = http_get(server.port, "/big.bin", source="127.0.0.3", timeout=30)
            self.assertEqual(resp.status, 503, resp.headers)
            self.assertEqual(resp.json()["error"], "too_many_downloads")
            other = http_get(server.port, "/big.bin", source="127.0.0.4", timeout=30)
            self.assertEqual(other.status, 200)
            self.assertTrue(other.body == self.big, "the body differs from the file")
            stalled[0].close()
            eventually(self, lambda: http_get(server.port, "/", source="127.0.0.3").status == 200,
                       "a closed download frees its address's place")
        finally:
            for sock in stalled:
                sock.close()


# --------------------------------------------------------------------------------------------
# Logging never blocks a loop
# --------------------------------------------------------------------------------------------

class LoggingDoesNotStall(DispatchTestCase):
    def test_refusals_logged_to_an_unread_pipe_do_not_stall_the_server(self):
        binary = require_binary(dispatch_bin())
        port = free_port()
        tmp = tempfile.mkdtemp(prefix="dispatch-test-")
        config = os.path.join(tmp, "config.yaml")
        with open(config, "w") as f:
            f.write(free_config(EVENTS, address=f"{LOCALHOST}:{port}", server={"threads": 1}))
        env = dict(os.environ, **DEFAULT_ENV)
        # stdout is a pipe that nobody reads: once its 64 KiB are full, every write blocks.
        proc = subprocess.Popen([binary, "serve", "--config", config], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        eventually(self, lambda: self._connects(port), "the server listens", timeout=10)
        # Each refusal is logged at info (a few hundred bytes): far more than the pipe holds.
        for n in range(1500):
            resp = http_get(port, f"/no-such-path-{n}", timeout=5)
            self.assertEqual(resp.status, 404)

        async def go():
            ws = await open_client(f"ws://{LOCALHOST}:{port}/ws", "user")
            await exchange(self, ws, 3)
        self.arun(go())

    @staticmethod
    def _connects(port: int) -> bool:
        try:
            socket.create_connection((LOCALHOST, port), timeout=1).close()
            return True
        except OSError:
            return False


if __name__ == "__main__":
    unittest.main()
