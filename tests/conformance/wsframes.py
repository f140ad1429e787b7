"""A raw-socket RFC 6455 client for conformance tests (standard library only).

It does the HTTP upgrade by hand, can send any frame -- including deliberately broken ones
(unmasked, reserved bits, reserved opcodes, non-minimal or impossible length encodings,
oversized or fragmented control frames) and bytes split across many tiny TCP writes -- and
decodes the server's frames strictly: a server frame that is masked or has an RSV bit set
raises ServerViolation at once, because a server must never do either.

Every read has a deadline; nothing here can hang a test.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import time
import unittest

from dispatch_harness import DispatchServer, make_token  # tests/integration (PYTHONPATH)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)

DEFAULT_TIMEOUT = 5.0


class ServerViolation(AssertionError):
    """The server sent something RFC 6455 forbids a server to send."""


class Closed(Exception):
    """The TCP connection was closed (EOF or reset) while a frame was expected."""


class HandshakeFailed(AssertionError):
    def __init__(self, status, headers, body, raw):
        super().__init__(f"upgrade refused: HTTP {status}: {raw[:300]!r}")
        self.status = status
        self.headers = headers
        self.body = body
        self.raw = raw


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def mask_bytes(payload, key):
    if not payload:
        return b""
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None,
                length=None, length_bytes=None):
    """Builds one frame.

    rsv: 3-bit value (4 = RSV1, 2 = RSV2, 1 = RSV3).
    length: the announced payload length (defaults to len(payload)); may lie.
    length_bytes: force the length encoding: 0 (7-bit), 2 (16-bit) or 8 (64-bit), even when a
    shorter one would do (non-minimal) -- default is the minimal encoding of `length`.
    """
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if length_bytes is None:
        length_bytes = 0 if n <= 125 else (2 if n <= 0xFFFF else 8)
    if length_bytes == 0:
        if n > 127:
            raise ValueError("7-bit length cannot hold %d" % n)
        head = bytes([b0, mbit | n])
    elif length_bytes == 2:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    elif length_bytes == 8:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    else:
        raise ValueError("length_bytes must be 0, 2 or 8")
    if mask:
        key = os.urandom(4) if mask_key is None else mask_key
        return head + key + mask_bytes(payload, key)
    return head + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "masked", "payload")

    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    def close_code(self):
        if len(self.payload) >= 2:
            return struct.unpack("!H", self.payload[:2])[0]
        return None

    def close_reason(self):
        return self.payload[2:].decode("utf-8", "replace")

    def text(self):
        return self.payload.decode("utf-8")

    def json(self):
        return json.loads(self.payload.decode("utf-8"))

    def __repr__(self):
        p = self.payload if len(self.payload) <= 200 else self.payload[:200] + b"..."
        return (f"Frame(fin={int(self.fin)} rsv={self.rsv} op=0x{self.opcode:X} "
                f"masked={int(self.masked)} len={len(self.payload)} payload={p!r})")


class WSClient:
    """One raw WebSocket client connection. Use WSClient.open(...) to connect + upgrade."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""                 # received bytes; self.pos is the read offset in it
        self.pos = 0
        self.welcome = None
        self.response_headers = {}
        self.frames_seen = []          # every frame decoded, for failure messages
        self.eof = False

    # ------------------------------------------------------------------ connecting

    @classmethod
    def tcp(cls, host, port, timeout=DEFAULT_TIMEOUT, rcvbuf=None, nodelay=True):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if nodelay:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(timeout)
        s.connect((host, port))
        return cls(s)

    @classmethod
    def open(cls, port, token=None, host="127.0.0.1", path="/ws", headers=None,
             expect_welcome=True, timeout=DEFAULT_TIMEOUT, rcvbuf=None):
        c = cls.tcp(host, port, timeout=timeout, rcvbuf=rcvbuf)
        try:
            c.handshake(host, port, path=path, token=token, headers=headers, timeout=timeout)
            if expect_welcome:
                f = c.recv_data_frame(timeout=timeout)
                if f.opcode != OP_TEXT:
                    raise AssertionError(f"welcome is not a text frame: {f!r}")
                msg = f.json()
                if msg.get("event") != "welcome":
                    raise AssertionError(f"first frame is not welcome: {f!r}")
                c.welcome = msg
        except BaseException:
            c.abort()
            raise
        return c

    def handshake(self, host, port, path="/ws", token=None, headers=None, timeout=DEFAULT_TIMEOUT):
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if token is not None:
            lines.append(f"Authorization: Bearer {token}")
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, hdrs, raw = self.read_http_head(timeout)
        if status != 101:
            body = self.read_http_body(hdrs, timeout)
            raise HandshakeFailed(status, hdrs, body, raw + body)
        self.response_headers = hdrs
        if hdrs.get("upgrade", "").lower() != "websocket":
            raise AssertionError(f"101 without Upgrade: websocket: {raw!r}")
        if "upgrade" not in [t.strip().lower() for t in hdrs.get("connection", "").split(",")]:
            raise AssertionError(f"101 without Connection: upgrade: {raw!r}")
        if hdrs.get("sec-websocket-accept") != accept_key(key):
            raise AssertionError(f"bad Sec-WebSocket-Accept in {raw!r} (want {accept_key(key)})")
        if "sec-websocket-extensions" in hdrs:
            raise AssertionError(f"server negotiated an extension nobody asked for: {raw!r}")

    def read_http_head(self, timeout=DEFAULT_TIMEOUT):
        """Reads an HTTP response head; returns (status, {lower-name: value}, raw head bytes)."""
        deadline = time.monotonic() + timeout
        self._compact()
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise AssertionError("HTTP response head larger than 64 KiB")
            self._fill(deadline)
        self._compact()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise AssertionError(f"not an HTTP response: {head[:200]!r}")
        status = int(parts[1])
        hdrs = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        return status, hdrs, head + b"\r\n\r\n"

    def read_http_body(self, hdrs, timeout=2.0):
        n = hdrs.get("content-length")
        deadline = time.monotonic() + timeout
        self._compact()
        try:
            if n is not None:
                n = int(n)
                while len(self.buf) - self.pos < n:
                    self._fill(deadline)
                self._compact()
                body, self.buf = self.buf[:n], self.buf[n:]
                return body
            # no length: read to EOF (bounded)
            while True:
                self._fill(deadline)
        except (Closed, TimeoutError, socket.timeout):
            self._compact()
            body, self.buf = self.buf, b""
            return body

    # ------------------------------------------------------------------ sending

    def send_raw(self, data, chunk=None, delay=0.0):
        """Sends bytes; with chunk=N, in N-byte writes (TCP_NODELAY is on) with `delay` between."""
        if chunk is None:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            if delay:
                time.sleep(delay)

    def send_frame(self, opcode, payload=b"", chunk=None, delay=0.0, **kw):
        self.send_raw(build_frame(opcode, payload, **kw), chunk=chunk, delay=delay)

    def send_text(self, text, **kw):
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text, **kw)

    def send_json(self, obj, opcode=OP_TEXT, **kw):
        self.send_frame(opcode, json.dumps(obj, separators=(",", ":")).encode(), **kw)

    def send_fragmented(self, data, pieces, opcode=OP_TEXT, between=None):
        """Sends `data` as len(pieces) fragments; pieces is a list of cut sizes or an int count.
        between(i) is called after fragment i (not after the last)."""
        if isinstance(data, str):
            data = data.encode()
        if isinstance(pieces, int):
            n = pieces
            step = len(data) // n
            cuts = [step * i for i in range(1, n)]
        else:
            cuts, acc = [], 0
            for p in pieces[:-1]:
                acc += p
                cuts.append(acc)
        bounds = [0] + cuts + [len(data)]
        frags = [data[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]
        for i, frag in enumerate(frags):
            last = i == len(frags) - 1
            self.send_frame(opcode if i == 0 else OP_CONT, frag, fin=last)
            if between is not None and not last:
                between(i)

    def send_close(self, code=1000, reason=b"", **kw):
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    def try_send(self, data):
        """Sends, ignoring a connection the server already closed."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    # ------------------------------------------------------------------ receiving

    def _compact(self):
        if self.pos:
            self.buf = self.buf[self.pos:]
            self.pos = 0

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out waiting for data from the server")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(262144)
        except socket.timeout:
            raise TimeoutError("timed out waiting for data from the server") from None
        except (ConnectionResetError, BrokenPipeError) as e:
            self.eof = True
            raise Closed(f"connection reset: {e}") from None
        if not data:
            self.eof = True
            raise Closed("EOF")
        self._compact()
        self.buf += data

    def _need(self, n, deadline):
        while len(self.buf) - self.pos < n:
            self._fill(deadline)

    def recv_frame(self, timeout=DEFAULT_TIMEOUT):
        """Reads one frame. Raises Closed on EOF/reset, TimeoutError past the deadline,
        ServerViolation on a masked frame, RSV bits, a reserved opcode or a bad control frame."""
        deadline = time.monotonic() + timeout
        self._need(2, deadline)          # offsets below are relative to self.pos, which
        o = self.pos                     # _need() may move (it compacts the buffer)
        b0, b1 = self.buf[o], self.buf[o + 1]
        fin, rsv, opcode = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF
        masked, n = bool(b1 & 0x80), b1 & 0x7F
        hl = 2
        if n == 126:
            self._need(4, deadline)
            o = self.pos
            n = struct.unpack("!H", self.buf[o + 2:o + 4])[0]
            hl = 4
            if n < 126:
                raise ServerViolation(f"server used a non-minimal 16-bit length {n}: "
                                      f"{self.buf[o:o + 8]!r}")
        elif n == 127:
            self._need(10, deadline)
            o = self.pos
            n = struct.unpack("!Q", self.buf[o + 2:o + 10])[0]
            hl = 10
            if n >> 63:
                raise ServerViolation(f"server sent a 64-bit length with the MSB set: "
                                      f"{self.buf[o:o + 10]!r}")
            if n <= 0xFFFF:
                raise ServerViolation(f"server used a non-minimal 64-bit length {n}: "
                                      f"{self.buf[o:o + 10]!r}")
        head = self.buf[o:o + hl]
        if masked:
            raise ServerViolation(f"server frame is masked: header {self.buf[o:o + hl + 4]!r}")
        if rsv:
            raise ServerViolation(f"server frame has RSV bits {rsv:03b}: header {head!r}")
        if opcode not in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
            raise ServerViolation(f"server frame has reserved opcode 0x{opcode:X}: header {head!r}")
        if opcode in CONTROL_OPCODES and (n > 125 or not fin):
            raise ServerViolation(f"server control frame bad (fin={fin}, len={n}): header {head!r}")
        self._need(hl + n, deadline)
        o = self.pos
        payload = self.buf[o + hl:o + hl + n]
        self.pos = o + hl + n
        f = Frame(fin, rsv, opcode, masked, payload)
        self.frames_seen.append(f)
        if len(self.frames_seen) > 64:
            del self.frames_seen[:32]
        return f

    def recv_data_frame(self, timeout=DEFAULT_TIMEOUT, answer_pings=True):
        """Next non-ping/pong frame (pings are answered with pongs). A close frame is returned."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.recv_frame(timeout=max(0.0, deadline - time.monotonic()))
            if f.opcode == OP_PING:
                if answer_pings:
                    self.try_send(build_frame(OP_PONG, f.payload))
                continue
            if f.opcode == OP_PONG:
                continue
            return f

    def recv_json(self, timeout=DEFAULT_TIMEOUT):
        """Next data message as JSON; fails on a close frame, a fragmented or non-text frame."""
        f = self.recv_data_frame(timeout=timeout)
        if f.opcode == OP_CLOSE:
            raise AssertionError(f"expected a message, got close {f.close_code()} {f.close_reason()!r}")
        if f.opcode != OP_TEXT or not f.fin:
            raise ServerViolation(f"server frames must be single text frames: {f!r}")
        return f.json()

    def expect_close(self, timeout=DEFAULT_TIMEOUT, reply=True):
        """Reads until the server's close frame; returns (code, reason, data frames before it).
        With reply=True answers the close with the same code, like a well-behaved client."""
        deadline = time.monotonic() + timeout
        before = []
        while True:
            try:
                f = self.recv_frame(timeout=max(0.0, deadline - time.monotonic()))
            except Closed as e:
                raise AssertionError(
                    f"TCP closed without a close frame ({e}); frames before: {before!r}") from None
            except TimeoutError:
                raise AssertionError(
                    f"no close frame within {timeout}s; frames before: {before!r}") from None
            if f.opcode == OP_CLOSE:
                code = f.close_code()
                if len(f.payload) == 1:
                    raise ServerViolation(f"server close frame with a 1-byte payload: {f!r}")
                try:
                    reason = f.payload[2:].decode("utf-8")
                except UnicodeDecodeError:
                    raise ServerViolation(f"server close reason is not UTF-8: {f!r}") from None
                if reply:
                    self.try_send(build_frame(OP_CLOSE, f.payload[:2]))
                return code, reason, before
            if f.opcode in (OP_PING, OP_PONG):
                continue
            before.append(f)

    def wait_closed(self, timeout=3.0):
        """Waits for the server to close TCP (EOF or reset), discarding anything it sends.
        Returns the seconds it took; raises AssertionError past the timeout."""
        start = time.monotonic()
        deadline = start + timeout
        if self.eof:
            return 0.0
        self.buf, self.pos = b"", 0
        while True:
            try:
                self._fill(deadline)
                self.buf, self.pos = b"", 0
            except Closed:
                return time.monotonic() - start
            except TimeoutError:
                raise AssertionError(f"server did not close TCP within {timeout}s") from None

    def abort(self):
        try:
            self.sock.close()
        except OSError:
            pass

    close = abort

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.abort()


# ---------------------------------------------------------------------- test base

ECHO_EVENTS = """\
events:
  echo:
    actions:
      - name: _reply
        params: ["echo", "{.payload}"]
"""


def server_config(server_lines="", extra=""):
    """A config on a free loopback port with the echo event; server_lines are extra
    `server:` keys (already indented by two spaces)."""
    return (
        "server:\n"
        '  address: "127.0.0.1:0"\n'
        "  path: /ws\n"
        + server_lines
        + "auth:\n"
        "  jwt:\n"
        "    secret: ${DISPATCH_JWT_SECRET}\n"
        + ECHO_EVENTS
        + extra
    )


def echo_text(payload):
    return json.dumps({"event": "echo", "payload": payload}, separators=(",", ":"))


def echo_of_size(n):
    """An echo message of exactly n bytes (n >= 30)."""
    base = b'{"event":"echo","payload":""}'
    if n < len(base):
        raise ValueError("too small")
    return b'{"event":"echo","payload":"' + b"a" * (n - len(base)) + b'"}'


class ServerCase(unittest.TestCase):
    """Starts one server per test class (CONFIG); every test ends by proving that a fresh
    client can still connect and get an echo."""

    CONFIG = None
    maxDiff = 2000

    @classmethod
    def setUpClass(cls):
        srv = DispatchServer(cls.CONFIG)
        cls.server = srv.__enter__() or srv

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def connect(self, sub=None, **kw):
        sub = sub or "user-%s" % os.urandom(3).hex()
        c = WSClient.open(self.server.port, token=make_token(sub), **kw)
        self.addCleanup(c.abort)
        return c

    def raw_tcp(self, **kw):
        c = WSClient.tcp("127.0.0.1", self.server.port, **kw)
        self.addCleanup(c.abort)
        return c

    def assert_echo(self, c, payload, timeout=DEFAULT_TIMEOUT):
        """Reads the next frame (strictly: no pings expected) and checks it is the echo."""
        f = c.recv_data_frame(timeout=timeout)
        self.assertEqual(f.opcode, OP_TEXT, f"expected the echo text frame, got {f!r}")
        self.assertTrue(f.fin, f"server frames are never fragmented: {f!r}")
        msg = f.json()
        self.assertEqual(list(msg.keys())[:2], ["event", "payload"], f.payload[:200])
        self.assertEqual(msg["event"], "echo", f.payload[:200])
        self.assertEqual(msg["payload"], payload)
        return msg

    def roundtrip(self, c, payload):
        c.send_text(echo_text(payload))
        return self.assert_echo(c, payload)

    def assert_fails(self, c, code, reason=None, close_timeout=3.0, tcp_timeout=3.0, what=""):
        """The server sends close `code` and then closes TCP within tcp_timeout."""
        got, got_reason, before = c.expect_close(timeout=close_timeout)
        self.assertEqual(got, code, f"{what}: close code {got} reason {got_reason!r}, want {code}; "
                                    f"data frames before the close: {before!r}")
        if reason is not None:
            self.assertEqual(got_reason, reason, what)
        c.wait_closed(timeout=tcp_timeout)
        return got_reason

    def assert_fail_cases(self, cases, close_timeout=3.0, tcp_timeout=3.0):
        """Runs many failure cases: cases is a list of (label, send(c), expected code). Each gets
        a fresh connection; the close frames are checked one by one, then every connection must
        be closed by the server within tcp_timeout of its close frame (checked after all cases
        were sent, so a server that takes its full close bound does not multiply the run time)."""
        pending = []
        for label, send, code in cases:
            with self.subTest(case=label):
                c = self.connect()
                send(c)
                got, reason, before = c.expect_close(timeout=close_timeout)
                self.assertEqual(got, code, f"{label}: close code {got} reason {reason!r}, "
                                            f"want {code}; data frames before: {before!r}")
                pending.append((label, c, time.monotonic()))
        for label, c, t0 in pending:
            with self.subTest(case=label, check="server closes TCP"):
                c.wait_closed(timeout=max(0.05, t0 + tcp_timeout - time.monotonic()))
            c.abort()

    def assert_server_serves(self):
        c = WSClient.open(self.server.port, token=make_token("fresh-%s" % os.urandom(3).hex()))
        try:
            self.roundtrip(c, {"alive": True})
        finally:
            c.abort()

    def tearDown(self):
        # Every case proves the server still serves a fresh client afterwards.
        self.assert_server_serves()
