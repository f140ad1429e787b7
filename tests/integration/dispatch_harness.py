"""Test harness for Dispatch: start the real `dispatch` binary, talk to it over real sockets.

Used by tests/integration and tests/conformance (keep this API stable). Standard library plus
Debian's `websockets` 10.4, run with /usr/bin/python3.

Servers
    free_config(events, server=..., jwt=..., auth=..., ...) -> YAML text (address 127.0.0.1:0)
    DispatchServer(config_text, env=None, binary=None, args=None) - context manager; waits for
        the `"msg":"listening"` log line; .port .url() .logs() .wait_for_log() .send_signal()
        .wait() .stop() .kill() .close() .restart() .write_config() .death_report() .output()
        .stdout_text() .stderr_text() .log_mark()
    run_dispatch(args, config_text=None, ...) -> subprocess.CompletedProcess (text)
Tokens
    make_token(sub, secret=DEFAULT_SECRET, alg="HS256", header=None, **claims) -> JWT string
Clients (async; every await is bounded)
    connect(url, token, via=...), open_client(server, sub), recv_json, recv_raw,
    expect_no_frame, expect_close, recv_until, expect_error, send_json, request,
    expect_quiet (negative checks by a round trip, not by waiting)
    run_async(coro, timeout) - asyncio.run with a deadline; closes the clients it opened
    DispatchTestCase - start_server/start_class_server/arun; a test whose server crashed fails
        with the server's exit status and output tail; a crashed shared server is restarted
Raw sockets
    http_request(port, method, path, headers, body) / raw_upgrade(port, headers, path)
        -> HttpResponse(status, headers, body) with .json()
    RawWebSocket(port, token=..., rcvbuf=...) - hand-made client: never reads unless asked
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import collections
import contextvars
import ctypes
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import shutil
import threading
import time
import unittest

import websockets
import websockets.client
import websockets.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

DEFAULT_SECRET = "test-secret-0123456789"
DEFAULT_ENV = {"DISPATCH_JWT_SECRET": DEFAULT_SECRET}
LOCALHOST = "127.0.0.1"


def dispatch_bin() -> str:
    """Path of the server binary: $DISPATCH_BIN, else build/dispatch in the checkout."""
    return os.environ.get("DISPATCH_BIN") or os.path.join(REPO, "build", "dispatch")


def example_bin() -> str:
    """Path of the server binary with the example custom action."""
    return os.environ.get("DISPATCH_EXAMPLE_BIN") or os.path.join(
        REPO, "build", "examples", "custom_action", "dispatch-example")


def require_binary(path: str | None = None) -> str:
    """Return the binary path; a missing binary fails the test (a test never skips for a missing
    fixture): build first, or set $DISPATCH_BIN / $DISPATCH_EXAMPLE_BIN."""
    path = path or dispatch_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise FileNotFoundError(f"server binary not found: {path} (build it, or set DISPATCH_BIN / "
                                f"DISPATCH_EXAMPLE_BIN)")
    return path


# --------------------------------------------------------------------------------------------
# Config text
# --------------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _yaml_key(key) -> str:
    key = str(key)
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _yaml_scalar(value) -> str:
    # JSON scalars and flow collections are valid YAML.
    return json.dumps(value, ensure_ascii=False)


def to_yaml(obj, indent: int = 0) -> str:
    """Render dicts as block mappings, lists of mappings as block sequences, the rest as JSON
    flow values (valid YAML). Keys that are not plain identifiers are quoted."""
    pad = "  " * indent
    lines = []
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}"
        for key, value in obj.items():
            k = _yaml_key(key)
            if isinstance(value, dict) and value:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(value, indent + 1))
            elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(value, indent + 1))
            else:
                lines.append(f"{pad}{k}: {_yaml_scalar(value)}")
        return "\n".join(lines)
    if isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict) and item:
                body = to_yaml(item, indent + 1)
                body = pad + "- " + body[len(pad) + 2:]
                lines.append(body)
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
        return "\n".join(lines)
    return pad + _yaml_scalar(obj)


def _indent_block(text: str, spaces: int) -> str:
    import textwrap
    text = textwrap.dedent(text).strip("\n")
    return "\n".join((" " * spaces + line) if line.strip() else "" for line in text.splitlines())


def free_config(events=None, *, server=None, jwt=None, auth=None, permissions=None, rooms=None,
                hooks=None, api=None, log_level="info", address=f"{LOCALHOST}:0", path="/ws",
                extra: str = "") -> str:
    """A config.yaml text listening on 127.0.0.1:0 (a free port) with the secret from
    ${DISPATCH_JWT_SECRET}. `events` is a dict (rendered) or YAML text of the mapping under
    `events:` (dedented, any indentation). server/jwt/auth/... are dicts merged into their
    sections; `extra` is raw YAML appended at the end."""
    cfg: dict = {"server": {"address": address, "path": path}}
    cfg["server"].update(server or {})
    auth_section = {"jwt": {"secret": "${DISPATCH_JWT_SECRET}"}}
    auth_section["jwt"].update(jwt or {})
    for key, value in (auth or {}).items():
        if key == "jwt" and isinstance(value, dict):
            auth_section["jwt"].update(value)
        else:
            auth_section[key] = value
    cfg["auth"] = auth_section
    if permissions is not None:
        cfg["permissions"] = list(permissions)
    if rooms is not None:
        cfg["rooms"] = rooms
    if hooks is not None:
        cfg["hooks"] = hooks
    if api is not None:
        cfg["api"] = api
    cfg["log"] = {"level": log_level}
    text = to_yaml(cfg) + "\n"
    if events is None:
        events = {}
    if isinstance(events, str):
        body = _indent_block(events, 2)
        text += "events:\n" + body + "\n" if body.strip() else "events: {}\n"
    else:
        text += to_yaml({"events": events}) + "\n"
    if extra:
        text += _indent_block(extra, 0) + "\n"
    return text


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (racy by nature; prefer address :0)."""
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------------

class ServerStartError(AssertionError):
    pass


_LIVE_SERVERS: "set[DispatchServer]" = set()
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:
        pass


def _child_env(env) -> dict:
    full = dict(os.environ)
    full.update(DEFAULT_ENV)
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = str(value)
    return full


class DispatchServer:
    """`<binary> serve --config <tmp>/config.yaml [args]`, stdout/stderr captured by threads.

    Use as a context manager (or call .close()); the process is always killed at the end and at
    interpreter exit. With wait=True (default) the constructor returns once the server logged
    `"msg":"listening"` (≤ start_timeout s), and .port holds the bound port."""

    def __init__(self, config_text: str | None = None, env: dict | None = None,
                 binary: str | None = None, args=None, *, config_path: str | None = None,
                 cwd: str | None = None, wait: bool = True, start_timeout: float = 10.0,
                 command=("serve",), config_arg: bool = True):
        self.binary = require_binary(binary or dispatch_bin())
        self.tmpdir = tempfile.mkdtemp(prefix="dispatch-test-")
        if config_path is None and (config_arg or config_text is not None):
            config_path = os.path.join(self.tmpdir, "config.yaml")
            with open(config_path, "w", encoding="utf-8") as f:
                f.write(config_text if config_text is not None else free_config())
        self.config_path = config_path
        self.config_text = config_text
        self.host = LOCALHOST
        self.port: int | None = None
        self.listening: dict | None = None
        self._cond = threading.Condition()
        self._lines: list[tuple[str, str]] = []   # (stream name, line) in arrival order
        self._logs: list[dict] = []               # parsed JSON lines from stdout and stderr
        self._eof = {"stdout": False, "stderr": False}
        # config_arg=False: no --config (the default run: ./config.yaml in cwd, or the embedded one).
        config_args = ["--config", config_path] if config_arg else []
        self.argv = [self.binary, *command, *config_args, *(args or [])]
        self._cwd = cwd or self.tmpdir
        self._env = _child_env(env)
        self._start_timeout = start_timeout
        self._spawn()
        if wait:
            try:
                self.wait_listening(start_timeout)
            except BaseException:
                self.close()
                raise

    def _spawn(self) -> None:
        preexec = _die_with_parent if threading.current_thread() is threading.main_thread() else None
        self._eof = {"stdout": False, "stderr": False}
        self._signalled = False
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=self._cwd, env=self._env,
                                     preexec_fn=preexec)
        self.pid = self.proc.pid
        _LIVE_SERVERS.add(self)
        self._threads = [threading.Thread(target=self._reader, args=(self.proc.stdout, "stdout"), daemon=True),
                         threading.Thread(target=self._reader, args=(self.proc.stderr, "stderr"), daemon=True)]
        for t in self._threads:
            t.start()

    def restart(self) -> None:
        """Kill the process if it still runs and start it again with the same config (the new
        one gets a new port when the config says :0). Output so far is kept."""
        self.kill()
        for t in self._threads:
            t.join(2)
        mark = self.log_mark()
        self._spawn()
        self.wait_listening(self._start_timeout, since=mark)

    # -- output -------------------------------------------------------------------------------
    def _reader(self, stream, name):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            obj = None
            try:
                obj = json.loads(line)
            except ValueError:
                pass
            with self._cond:
                self._lines.append((name, line))
                if isinstance(obj, dict):
                    self._logs.append(obj)
                self._cond.notify_all()
        with self._cond:
            self._eof[name] = True
            self._cond.notify_all()

    def logs(self) -> list[dict]:
        """Parsed JSON log lines so far (stdout and stderr)."""
        with self._cond:
            return list(self._logs)

    def log_mark(self) -> int:
        """Index to pass as `since=` to wait_for_log to see only later lines."""
        with self._cond:
            return len(self._logs)

    def lines(self) -> list[tuple[str, str]]:
        with self._cond:
            return list(self._lines)

    def stdout_text(self) -> str:
        return "\n".join(l for s, l in self.lines() if s == "stdout")

    def stderr_text(self) -> str:
        return "\n".join(l for s, l in self.lines() if s == "stderr")

    def output(self) -> str:
        """Everything the process wrote so far, stdout and stderr interleaved."""
        return "\n".join(l for _, l in self.lines())

    def wait_for_log(self, predicate, timeout: float = 5.0, since: int = 0) -> dict:
        """First parsed log line (index >= since) for which predicate(line) is true; raises
        AssertionError after `timeout` s or when the process has exited without it."""
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self._logs):
                    entry = self._logs[index]
                    index += 1
                    try:
                        if predicate(entry):
                            return entry
                    except (KeyError, TypeError, AttributeError):
                        pass
                finished = self._eof["stdout"] and self._eof["stderr"]
                remaining = deadline - time.monotonic()
                if finished or remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.2))
        tail = "\n".join(l for _, l in self.lines()[-40:])
        state = f"exited with {self.proc.poll()}" if self.proc.poll() is not None else "running"
        raise AssertionError(f"no matching log line within {timeout}s (server {state}); output tail:\n{tail}")

    def sync_logs(self, timeout: float = 5.0) -> None:
        """Log barrier, instead of waiting a while: has the server log a line now (a refused
        upgrade without a token logs "connection refused" at info level) and waits for it, so
        every line logged before is in .logs()."""
        mark = self.log_mark()
        raw_upgrade(self.port, token=None)
        self.wait_for_log(lambda l: l.get("msg") == "connection refused", timeout, since=mark)

    def wait_listening(self, timeout: float = 10.0, since: int = 0) -> dict:
        try:
            entry = self.wait_for_log(lambda l: l.get("msg") == "listening", timeout, since=since)
        except AssertionError as e:
            raise ServerStartError(f"server did not report listening: {e}") from None
        port = entry.get("port")
        if port is None and isinstance(entry.get("address"), str):
            m = re.search(r":(\d+)$", entry["address"])
            port = int(m.group(1)) if m else None
        if not isinstance(port, int):
            raise ServerStartError(f"listening log line has no integer port: {entry}")
        self.listening = entry
        self.port = port
        return entry

    # -- addresses ----------------------------------------------------------------------------
    def url(self, path: str = "/ws") -> str:
        return f"ws://{self.host}:{self.port}{path}"

    # -- process control ----------------------------------------------------------------------
    def running(self) -> bool:
        return self.proc.poll() is None

    def death_report(self) -> str | None:
        """None while running or after an exit the test asked for (a signal sent through
        send_signal/stop/kill); else a description of the unexpected exit with the output tail."""
        rc = self.proc.poll()
        if rc is None or self._signalled:
            return None
        how = f"killed by signal {-rc} ({signal.Signals(-rc).name})" if rc < 0 else f"exited with {rc}"
        lines = [l for _, l in self.lines()]
        # A sanitizer's report is what explains the exit: show it from its first line.
        start = next((i for i, l in enumerate(lines) if "Sanitizer" in l), max(0, len(lines) - 30))
        tail = "\n".join(lines[start:start + 150])
        return f"dispatch (pid {self.pid}) {how} unexpectedly; output tail:\n{tail}"

    def send_signal(self, sig) -> None:
        if self.proc.poll() is None:
            if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
                self._signalled = True
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 10.0) -> int:
        """Exit code; raises TimeoutError when still running after `timeout` s."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"server pid {self.pid} still running after {timeout}s") from None
        for t in self._threads:
            t.join(2)
        return rc

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait up to `timeout` s, then SIGKILL. Returns the exit code."""
        if self.proc.poll() is None:
            self.send_signal(signal.SIGTERM)
            try:
                return self.wait(timeout)
            except TimeoutError:
                self.kill()
        return self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self._signalled = True
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and remove the temp dir. Idempotent."""
        try:
            if self.proc.poll() is None:
                self.stop(10)
        finally:
            self.kill()
            for t in self._threads:
                t.join(2)
            for stream in (self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except Exception:
                    pass
            _LIVE_SERVERS.discard(self)
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def write_config(self, text: str) -> None:
        """Replace the config file (e.g. before SIGHUP)."""
        tmp = self.config_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


@atexit.register
def _kill_all_servers():
    for server in list(_LIVE_SERVERS):
        try:
            server.kill()
        except Exception:
            pass


def run_dispatch(args, config_text: str | None = None, *, env: dict | None = None,
                 binary: str | None = None, timeout: float = 15.0, cwd: str | None = None,
                 config_name: str = "config.yaml") -> subprocess.CompletedProcess:
    """Run `<binary> <args>` to completion (text output). If config_text is given it is written
    to <tmp>/<config_name> and every "{config}" in args is replaced by that path."""
    binary = require_binary(binary or dispatch_bin())
    tmpdir = tempfile.mkdtemp(prefix="dispatch-run-")
    try:
        path = os.path.join(tmpdir, config_name)
        if config_text is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(config_text)
        argv = [binary] + [a.replace("{config}", path) for a in args]
        preexec = _die_with_parent if threading.current_thread() is threading.main_thread() else None
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              cwd=cwd or tmpdir, env=_child_env(env), preexec_fn=preexec)
        return subprocess.CompletedProcess(argv, proc.returncode,
                                           proc.stdout.decode("utf-8", "replace"),
                                           proc.stderr.decode("utf-8", "replace"))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# JWT
# --------------------------------------------------------------------------------------------

ISSUED_TOKENS: list[str] = []   # every token make_token produced (to check none is logged)

_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def now() -> int:
    return int(time.time())


def make_token(sub="user", secret: str = DEFAULT_SECRET, alg: str = "HS256", header: dict | None = None,
               **claims) -> str:
    """An HS256/384/512 JWT (or alg "none", unsigned). sub=None leaves `sub` out; claims are added
    as given (exp/nbf/iat/iss/aud/perms/evt/...)."""
    payload = {}
    if sub is not None:
        payload["sub"] = sub
    payload.update(claims)
    hdr = {"alg": alg, "typ": "JWT"}
    hdr.update(header or {})
    signing_input = (b64url(json.dumps(hdr, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(payload, separators=(",", ":")).encode()))
    if alg.lower() == "none":
        signature = ""
    else:
        digest = _DIGESTS[alg]
        signature = b64url(hmac.new(secret.encode(), signing_input.encode(), digest).digest())
    token = signing_input + "." + signature
    ISSUED_TOKENS.append(token)
    return token


def assert_secrets_not_logged(server: DispatchServer, secrets=(DEFAULT_SECRET,), tokens=None) -> None:
    """Raise AssertionError if any secret, any token (default: every token made so far) or any
    token's signature appears in what the server wrote."""
    out = server.output()
    for secret in secrets:
        if secret and secret in out:
            raise AssertionError(f"secret {secret!r} appears in the server output")
    for token in (ISSUED_TOKENS if tokens is None else tokens):
        sig = token.rsplit(".", 1)[-1]
        if token in out:
            raise AssertionError(f"a token appears in the server output: {token[:24]}...")
        if len(sig) >= 16 and sig in out:
            raise AssertionError(f"a token signature appears in the server output: {sig[:16]}...")


# --------------------------------------------------------------------------------------------
# Async WebSocket clients (websockets 10.4 legacy client)
# --------------------------------------------------------------------------------------------

_TRACKED = contextvars.ContextVar("dispatch_tracked_clients", default=None)


async def connect(url: str, token: str | None = None, *, via: str = "header", subprotocols=None,
                  headers=None, origin: str | None = None, open_timeout: float = 5.0,
                  max_size: int | None = 2 ** 24, **kw):
    """Open a WebSocket. via: "header" (Authorization: Bearer), "subprotocol"
    (["dispatch.v1", "bearer.<jwt>"]), "authorization" (["Authorization", "<jwt>"]), "cookie"
    (session-token=<jwt>). Extra `subprotocols`/`headers` are added. Frames are buffered without
    limit (max_queue=None) so a close is seen even when frames were not read."""
    hdrs = list(headers.items() if isinstance(headers, dict) else (headers or []))
    sp = list(subprotocols) if subprotocols else []
    if token is not None:
        if via == "header":
            hdrs.append(("Authorization", f"Bearer {token}"))
        elif via == "subprotocol":
            sp = ["dispatch.v1", "bearer." + token] + sp
        elif via == "authorization":
            sp = ["Authorization", token] + sp
        elif via == "cookie":
            hdrs.append(("Cookie", f"session-token={token}"))
        else:
            raise ValueError(f"unknown via {via!r}")
    kw.setdefault("ping_interval", None)
    kw.setdefault("close_timeout", 2)
    kw.setdefault("max_queue", None)
    ws = await asyncio.wait_for(
        websockets.client.connect(url, subprotocols=sp or None, extra_headers=hdrs or None,
                                  origin=origin, open_timeout=open_timeout, max_size=max_size, **kw),
        open_timeout + 1)
    tracked = _TRACKED.get()
    if tracked is not None:
        tracked.append(ws)
    return ws


async def open_client(server, sub: str | None = "user", *, token: str | None = None,
                      via: str = "header", welcome: bool = True, **kw):
    """Connect as user `sub` (a fresh HS256 token) or with `token`; read and check the welcome
    frame (stored as ws.welcome) unless welcome=False."""
    url = server.url() if hasattr(server, "url") else server
    if token is None:
        token = make_token(sub)
    ws = await connect(url, token, via=via, **kw)
    ws.welcome = None
    if welcome:
        frame = await recv_json(ws, 3)
        if frame.get("event") != "welcome":
            raise AssertionError(f"expected a welcome frame first, got {frame}")
        ws.welcome = frame
        ws.conn_id = frame["payload"]["conn_id"]
    return ws


async def recv_raw(ws, timeout: float = 2.0):
    try:
        return await asyncio.wait_for(ws.recv(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"no frame within {timeout}s") from None
    except websockets.exceptions.ConnectionClosed as e:
        raise AssertionError(f"connection closed while waiting for a frame: code={ws.close_code} "
                             f"reason={ws.close_reason!r}") from e


async def recv_json(ws, timeout: float = 2.0):
    """Next frame, which must be a text frame holding JSON; returns it parsed (key order kept)."""
    msg = await recv_raw(ws, timeout)
    if isinstance(msg, bytes):
        raise AssertionError(f"server sent a binary frame: {msg[:200]!r}")
    try:
        return json.loads(msg)
    except ValueError:
        raise AssertionError(f"server sent a frame that is not JSON: {msg[:200]!r}") from None


async def expect_no_frame(ws, timeout: float = 0.3) -> None:
    """Nothing arrives within `timeout` s. That passes whenever the frame is merely late: for a
    negative check use expect_quiet (a round trip); this is for a connection that must not be
    written to at all (where a barrier message cannot be sent)."""
    try:
        msg = await asyncio.wait_for(ws.recv(), timeout)
    except asyncio.TimeoutError:
        return
    except websockets.exceptions.ConnectionClosed:
        raise AssertionError(f"connection closed (code={ws.close_code} reason={ws.close_reason!r}) "
                             f"where only silence was expected") from None
    raise AssertionError(f"unexpected frame: {msg[:300]!r}")


_BARRIER_IDS = iter(range(1, 1 << 62))


async def expect_quiet(ws, event: str = "__barrier__", timeout: float = 2.0) -> None:
    """Negative check by a round trip, not by waiting: sends {"event": event, "id": <fresh>} and
    asserts that the first frame back is the answer to it (its `ack`, or its `error`, such as
    `unknown_event` for the default event, which no config declares). A connection's frames are
    sent in order, and a delivery from another connection's message is handed to this
    connection's loop before that message is answered, so a frame that was on its way to `ws`
    (because of anything answered before this call) would arrive before the answer.
    An `unknown_event` error spends the connection's error budget (server.error_budget, 10 per
    10 s by default): pass a declared, harmless event where a test sends many barriers."""
    ref = f"barrier-{next(_BARRIER_IDS)}"
    await send_json(ws, {"event": event, "id": ref})
    frame = await recv_json(ws, timeout)
    payload = frame.get("payload") if isinstance(frame, dict) else None
    if not (isinstance(payload, dict) and frame.get("event") in ("ack", "error")
            and payload.get("ref") == ref):
        raise AssertionError(f"expected nothing before the answer to the barrier {ref!r}, got {frame}")


async def expect_close(ws, timeout: float = 5.0):
    """Read until the connection closes; returns (code, reason, frames read before the close).
    code 1006 means the TCP connection ended without a close frame."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"connection still open after {timeout}s; frames seen: "
                                 f"{[f[:120] if isinstance(f, str) else f[:60] for f in frames[-5:]]}")
        try:
            msg = await asyncio.wait_for(ws.recv(), remaining)
        except asyncio.TimeoutError:
            continue
        except websockets.exceptions.ConnectionClosed:
            break
        frames.append(msg)
    try:
        await asyncio.wait_for(ws.wait_closed(), 3)
    except asyncio.TimeoutError:
        pass
    return ws.close_code, ws.close_reason, frames


async def recv_until(ws, predicate, timeout: float = 2.0):
    """Read JSON frames until predicate(frame); returns (frame, frames skipped before it)."""
    skipped = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching frame within {timeout}s; skipped: {skipped[-5:]}")
        frame = await recv_json(ws, remaining)
        if predicate(frame):
            return frame, skipped
        skipped.append(frame)


async def send_json(ws, obj) -> None:
    await asyncio.wait_for(ws.send(json.dumps(obj)), 5)


async def request(ws, msg: dict, timeout: float = 2.0) -> list:
    """Send `msg` (which must carry an id) and return every frame up to and including the
    `ack` or `error` whose ref is that id."""
    ref = msg["id"]
    await send_json(ws, msg)
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no ack/error for id {ref!r} within {timeout}s; frames: {frames}")
        frame = await recv_json(ws, remaining)
        frames.append(frame)
        if frame.get("event") in ("ack", "error") and isinstance(frame.get("payload"), dict) \
                and frame["payload"].get("ref") == ref:
            return frames


_ANY = object()


def check_error(frame, code: str, ref=_ANY, event=_ANY) -> dict:
    """Assert `frame` is {"event":"error","payload":{"code":code,"message":str,"ref":..,
    "event":..}} and return its payload."""
    if not (isinstance(frame, dict) and frame.get("event") == "error"):
        raise AssertionError(f"expected an error frame with code {code!r}, got {frame}")
    if list(frame.keys()) != ["event", "payload"]:
        raise AssertionError(f"error frame keys must be exactly event, payload: {frame}")
    p = frame["payload"]
    if not isinstance(p, dict) or p.get("code") != code:
        raise AssertionError(f"expected error code {code!r}, got {frame}")
    for key in ("message", "ref", "event"):
        if key not in p:
            raise AssertionError(f"error payload lacks {key!r}: {frame}")
    if not isinstance(p["message"], str):
        raise AssertionError(f"error message is not a string: {frame}")
    if ref is not _ANY and p["ref"] != ref:
        raise AssertionError(f"error ref {p['ref']!r} != {ref!r}: {frame}")
    if event is not _ANY and p["event"] != event:
        raise AssertionError(f"error event {p['event']!r} != {event!r}: {frame}")
    return p


async def expect_error(ws, code: str, ref=_ANY, event=_ANY, timeout: float = 2.0) -> dict:
    return check_error(await recv_json(ws, timeout), code, ref, event)


def compact(obj) -> str:
    """Compact JSON keeping key order: compare frames including the order of their keys."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


async def _close_clients(clients) -> None:
    open_ones = [ws for ws in clients if not ws.closed]
    if open_ones:
        try:
            await asyncio.wait_for(asyncio.gather(*(ws.close() for ws in open_ones),
                                                  return_exceptions=True), 4)
        except asyncio.TimeoutError:
            pass
    for ws in clients:
        if ws.transport is not None and not ws.transport.is_closing():
            ws.transport.abort()


async def _tracked_run(coro, timeout):
    clients = []
    _TRACKED.set(clients)
    try:
        return await asyncio.wait_for(coro, timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"test coroutine did not finish within {timeout}s") from None
    finally:
        await _close_clients(clients)


def run_async(coro, timeout: float = 30.0):
    """asyncio.run with a deadline; the WebSocket clients opened inside are closed at the end."""
    return asyncio.run(_tracked_run(coro, timeout))


# --------------------------------------------------------------------------------------------
# Raw HTTP and hand-made WebSocket clients
# --------------------------------------------------------------------------------------------

class HttpResponse(collections.namedtuple("HttpResponse", "status headers body")):
    """status: int, headers: dict with lower-case names (repeats joined by ", "), body: bytes."""

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _read_head(sock, buf: bytes, limit: int = 65536):
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"connection closed before the end of the response head: {buf[:300]!r}")
        buf += chunk
        if len(buf) > limit:
            raise AssertionError("response head too large")
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("iso-8859-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        raise AssertionError(f"bad status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return int(m.group(1)), headers, rest


def _read_body(sock, headers, rest: bytes, method: str, status: int) -> bytes:
    if method == "HEAD" or status in (101, 204, 304) or 100 <= status < 200:
        return b""
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return rest[:n]
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            while b"\r\n" not in rest:
                chunk = sock.recv(65536)
                if not chunk:
                    return body
                rest += chunk
            size_line, rest = rest.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    return body + rest[:size]
                rest += chunk
            if size == 0:
                return body
            body += rest[:size]
            rest = rest[size + 2:]
    body = rest
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        body += chunk
    return body


def http_request(port: int, method: str = "GET", path: str = "/", headers=None, body: bytes = b"",
                 *, host: str = LOCALHOST, timeout: float = 5.0) -> HttpResponse:
    """One HTTP/1.1 request on a fresh connection (Connection: close unless headers say
    otherwise); returns HttpResponse(status, headers, body)."""
    hdrs = list(headers.items() if isinstance(headers, dict) else (headers or []))
    names = {k.lower() for k, _ in hdrs}
    if "host" not in names:
        hdrs.insert(0, ("Host", f"{host}:{port}"))
    if body and "content-length" not in names:
        hdrs.append(("Content-Length", str(len(body))))
    if "connection" not in names:
        hdrs.append(("Connection", "close"))
    req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(req.encode("iso-8859-1") + (body or b""))
        except (BrokenPipeError, ConnectionResetError):
            # The server answered early (a refusal before the body, e.g. 413) and closed while
            # the body was still going out: its answer is what the caller wants to see.
            pass
        status, rheaders, rest = _read_head(sock, b"")
        rbody = _read_body(sock, rheaders, rest, method, status)
    return HttpResponse(status, rheaders, rbody)


def upgrade_headers(token: str | None = None, *, extra=None, key: str | None = None) -> list:
    hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key or base64.b64encode(os.urandom(16)).decode()),
            ("Sec-WebSocket-Version", "13")]
    if token is not None:
        hdrs.append(("Authorization", f"Bearer {token}"))
    hdrs += list(extra.items() if isinstance(extra, dict) else (extra or []))
    return hdrs


def raw_upgrade(port: int, headers=None, path: str = "/ws", *, token: str | None = None,
                upgrade: bool = True, host: str = LOCALHOST, timeout: float = 5.0) -> HttpResponse:
    """Send a WebSocket upgrade request (or a plain GET with upgrade=False) and return the
    response head and body (body empty for 101). `headers` are added to the upgrade headers."""
    hdrs = upgrade_headers(token, extra=headers) if upgrade else list(
        headers.items() if isinstance(headers, dict) else (headers or []))
    if token is not None and not upgrade:
        hdrs.append(("Authorization", f"Bearer {token}"))
    return http_request(port, "GET", path, hdrs, host=host, timeout=timeout)


OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class RawWebSocket:
    """A hand-made client on a plain socket: it reads only when asked, so it can play a client
    that stops reading (set `rcvbuf` small). Frames are masked as RFC 6455 requires."""

    def __init__(self, port: int, token: str | None = None, *, path: str = "/ws", headers=None,
                 rcvbuf: int | None = None, host: str = LOCALHOST, timeout: float = 5.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        hdrs = [("Host", f"{host}:{port}")] + upgrade_headers(token, extra=headers, key=key)
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
        self.sock.sendall(req.encode("iso-8859-1"))
        self.status, self.headers, self._buf = _read_head(self.sock, b"")
        if self.status != 101:
            self.sock.close()
            raise AssertionError(f"upgrade refused with {self.status}")
        expect = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                               .encode()).digest()).decode()
        if self.headers.get("sec-websocket-accept") != expect:
            raise AssertionError(f"bad Sec-WebSocket-Accept: {self.headers}")

    def send_frame(self, opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True,
                   rsv: int = 0) -> None:
        self.sock.sendall(self.encode_frame(opcode, payload, fin=fin, mask=mask, rsv=rsv))

    @staticmethod
    def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True,
                     rsv: int = 0) -> bytes:
        """The bytes of one frame (to send in pieces with .sock.sendall)."""
        head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            head += bytes([mbit | n])
        elif n < 65536:
            head += bytes([mbit | 126]) + struct.pack("!H", n)
        else:
            head += bytes([mbit | 127]) + struct.pack("!Q", n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if n < 4096 else \
                _mask_fast(payload, key)
            head += key
        return head + payload

    def send_text(self, text: str) -> None:
        self.send_frame(OP_TEXT, text.encode("utf-8"))

    def send_json(self, obj) -> None:
        self.send_text(json.dumps(obj))

    def _need(self, n: int, deadline: float) -> None:
        while len(self._buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("timed out reading a frame")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self._buf += chunk

    def recv_frame(self, timeout: float = 2.0):
        """Next frame as (fin, opcode, payload bytes). Raises socket.timeout or ConnectionError
        (EOF) / ConnectionResetError."""
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self._buf[0], self._buf[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            self._need(4, deadline)
            n = struct.unpack("!H", self._buf[2:4])[0]
            pos = 4
        elif n == 127:
            self._need(10, deadline)
            n = struct.unpack("!Q", self._buf[2:10])[0]
            pos = 10
        if b1 & 0x80:
            self._need(pos + 4, deadline)
            mkey = self._buf[pos:pos + 4]
            pos += 4
        else:
            mkey = None
        self._need(pos + n, deadline)
        payload = self._buf[pos:pos + n]
        self._buf = self._buf[pos + n:]
        if mkey:
            payload = _mask_fast(payload, mkey)
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_json(self, timeout: float = 2.0):
        while True:
            fin, op, payload = self.recv_frame(timeout)
            if op == OP_TEXT:
                return json.loads(payload.decode("utf-8"))
            if op == OP_CLOSE:
                raise ConnectionError(f"close frame: {parse_close(payload)}")

    def close(self) -> None:
        try:
            self.sock.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _mask_fast(data: bytes, key: bytes) -> bytes:
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def parse_close(payload: bytes):
    """(code, reason) of a close frame payload; (None, "") when empty."""
    if len(payload) < 2:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# unittest glue
# --------------------------------------------------------------------------------------------

class DispatchTestCase(unittest.TestCase):
    """start_server() / start_class_server() register cleanup; arun() runs a coroutine with a
    deadline. A test whose server died unexpectedly (crash, early exit) fails saying so, with the
    server's output tail, instead of with a bare connection error."""

    _class_servers: list = []

    def start_server(self, config_text: str | None = None, **kw) -> DispatchServer:
        server = DispatchServer(config_text, **kw)
        self.addCleanup(server.close)
        self.__dict__.setdefault("_test_servers", []).append(server)
        return server

    @classmethod
    def start_class_server(cls, config_text: str | None = None, **kw) -> DispatchServer:
        server = DispatchServer(config_text, **kw)
        cls.addClassCleanup(server.close)
        if "_class_servers" not in cls.__dict__:
            cls._class_servers = []
        cls._class_servers.append(server)
        return server

    def _death_reports(self) -> list:
        """Reports of servers that died unexpectedly and were not reported yet."""
        servers = list(type(self).__dict__.get("_class_servers", [])) + self.__dict__.get("_test_servers", [])
        reports = []
        for server in servers:
            report = server.death_report()
            if report and not getattr(server, "_death_reported", False):
                server._death_reported = True
                reports.append(report)
        return reports

    def arun(self, coro, timeout: float = 30.0):
        try:
            result = run_async(coro, timeout)
        except BaseException as e:
            time.sleep(0.1)
            reports = self._death_reports()
            if reports:
                raise AssertionError("\n".join(reports) + f"\n(test saw: {e!r})") from e
            raise
        reports = self._death_reports()
        if reports:
            raise AssertionError("\n".join(reports))
        return result

    def setUp(self):
        # A shared server that an earlier test crashed (that test failed saying so) is started
        # again, so that one crash does not fail every later test of the class.
        for server in type(self).__dict__.get("_class_servers", []):
            if server.death_report():
                server.restart()
                server._death_reported = False

    def tearDown(self):
        time.sleep(0.05)
        reports = self._death_reports()
        if reports:
            self.fail("\n".join(reports))
