"""A real Redis for cluster tests: Debian's /usr/bin/redis-server on a free loopback port, no
persistence, its files in a temporary directory; killed (SIGKILL) and started again on the same
port to test outages; stopped when the test process ends. Standard library only: commands go over
a raw socket in RESP (there is no Python Redis client on this machine).

    with RedisServer() as redis:          # or RedisServer(password="s3cret")
        redis.url                         # redis://127.0.0.1:PORT (with :password@ when set)
        redis.command("PUBSUB", "CHANNELS")
        redis.kill(); redis.start()
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from dispatch_harness import LOCALHOST, free_port

REDIS_SERVER = "/usr/bin/redis-server"
_RUNNING: list["RedisServer"] = []


def _encode(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exactly(self, size: int) -> bytes:
        while len(self.buf) < size + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:size], self.buf[size + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._exactly(size)
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self.reply() for _ in range(size)]
        raise RuntimeError(f"unexpected RESP line {line!r}")


class RedisServer:
    def __init__(self, password: str | None = None):
        if not os.path.exists(REDIS_SERVER):
            raise AssertionError(f"{REDIS_SERVER} is missing: run ./scripts/install-deps")
        self.password = password
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="dispatch-redis-")
        self.proc = None
        _RUNNING.append(self)
        self.start()

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{LOCALHOST}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", LOCALHOST, "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--logfile",
                os.path.join(self.dir, "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.command("PING") == "PONG":
                    return
            except (OSError, RuntimeError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start on port {self.port}: "
                                     f"{self.log_tail()}")
            time.sleep(0.02)

    def command(self, *args, timeout: float = 5.0):
        with socket.create_connection((LOCALHOST, self.port), timeout=timeout) as sock:
            reader = _Reader(sock)
            if self.password:
                sock.sendall(_encode(["AUTH", self.password]))
                reader.reply()
            sock.sendall(_encode(list(args)))
            return reader.reply()

    def channels(self) -> set[str]:
        return {c.decode() for c in self.command("PUBSUB", "CHANNELS")}

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _RUNNING:
            _RUNNING.remove(self)

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.dir, "redis.log"), encoding="utf-8") as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


@atexit.register
def _stop_all():
    for server in list(_RUNNING):
        server.stop()
