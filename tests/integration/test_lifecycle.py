"""SPEC section 1: signals (SIGTERM/SIGINT graceful stop, SIGHUP reload, SIGPIPE and others left
alone), startup failures (port taken, also through SO_REUSEPORT; missing or bad config) and exit
codes."""

import asyncio
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from dispatch_harness import (
    OP_CLOSE, DispatchTestCase, RawWebSocket, expect_close, free_config, make_token,
    open_client, parse_close, raw_upgrade, request, run_dispatch,
)

GRACE = 3.0


def events(*names, reply_suffix=""):
    return {n: {"actions": [{"name": "_reply", "params": [f"{n}_ok{reply_suffix}", "{}"]}]} for n in names}


def config(*names, reply_suffix="", **kw):
    server = {"shutdown_grace": f"{int(GRACE)}s", "error_budget": "1000/10s"}
    server.update(kw.pop("server", {}))
    return free_config(events(*names, reply_suffix=reply_suffix), server=server, **kw)


async def call(ws, event, ident):
    """Send an event with an id; return ("ok", reply event) or ("error", code)."""
    frames = await request(ws, {"event": event, "id": ident})
    last = frames[-1]
    if last["event"] == "ack":
        return "ok", frames[0]["event"] if len(frames) > 1 else None
    return "error", last["payload"]["code"]


def wait_caught(pid, sig, timeout=5.0):
    """Waits until the process has a handler installed for `sig` (SigCgt in /proc). The server
    logs "listening" a moment before it installs its SIGHUP handler: a SIGHUP in between takes
    the default action and ends it."""
    bit = 1 << (int(sig) - 1)
    deadline = time.monotonic() + timeout
    while True:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
        if caught & bit:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"pid {pid} installed no {sig.name} handler within {timeout}s")
        time.sleep(0.01)


def wait_not_pending(pid, sig, timeout=5.0):
    """Waits until `sig` is pending neither for the process nor for any of its threads (read from
    /proc), i.e. until it has been delivered or discarded."""
    bit = 1 << (int(sig) - 1)
    deadline = time.monotonic() + timeout
    while True:
        pending = 0
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/status", encoding="ascii") as f:
                    for line in f:
                        if line.startswith(("SigPnd:", "ShdPnd:")):
                            pending |= int(line.split()[1], 16)
        except FileNotFoundError:
            return      # the process (or a thread) is gone: delivered
        if not pending & bit:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{sig.name} still pending in pid {pid} after {timeout}s")
        time.sleep(0.01)


class GracefulStop(DispatchTestCase):
    def _graceful(self, sig):
        server = self.start_server(config("a"))
        timing = {}

        async def go():
            clients = [await open_client(server, f"stop{i}") for i in range(4)]
            wait_caught(server.pid, sig)
            timing["t0"] = time.monotonic()
            server.send_signal(sig)
            results = await asyncio.gather(*(expect_close(ws, GRACE + 2) for ws in clients))
            for code, reason, _ in results:
                self.assertEqual((code, reason), (1001, "going away"))
        self.arun(go())
        rc = server.wait(GRACE + 2)
        elapsed = time.monotonic() - timing["t0"]
        self.assertEqual(rc, 0, server.output()[-2000:])
        self.assertLess(elapsed, GRACE + 1.5)

    def test_sigterm(self):
        self._graceful(signal.SIGTERM)

    def test_sigint(self):
        self._graceful(signal.SIGINT)

    def test_sigterm_with_unresponsive_client_bounded_by_grace(self):
        # One loop: the listener is closed on it before its clients are sent their close frames.
        server = self.start_server(config("a", server={"threads": 1}))
        raw = RawWebSocket(server.port, make_token("deaf"), rcvbuf=4096)
        self.addCleanup(raw.close)
        self.assertEqual(raw.recv_json()["event"], "welcome")

        # A client that never answers the close handshake.
        wait_caught(server.pid, signal.SIGTERM)
        t0 = time.monotonic()
        server.send_signal(signal.SIGTERM)
        fin, op, payload = raw.recv_frame(GRACE)
        self.assertEqual((op, parse_close(payload)), (OP_CLOSE, (1001, "going away")))
        # Draining: new connections are no longer accepted.
        try:
            resp = raw_upgrade(server.port, token=make_token("late"), timeout=2)
            self.assertNotEqual(resp.status, 101, "a new connection was upgraded after SIGTERM")
        except (ConnectionError, OSError):
            pass
        rc = server.wait(GRACE + 3)
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t0, GRACE + 2.5)


class Reload(DispatchTestCase):
    def test_sighup_valid_config_applies_to_existing_connections(self):
        server = self.start_server(config("a", "removed"))

        async def go():
            ws = await open_client(server, "hup")
            self.assertEqual(await call(ws, "a", 1), ("ok", "a_ok"))
            self.assertEqual(await call(ws, "b", 2), ("error", "unknown_event"))
            server.write_config(config("a", "b", reply_suffix="2"))
            mark = server.log_mark()
            wait_caught(server.pid, signal.SIGHUP)
            server.send_signal(signal.SIGHUP)
            # Logged once the new config is handed to every loop: the next message sees it.
            server.wait_for_log(lambda l: l.get("msg") == "config reloaded", 5, since=mark)
            self.assertEqual(await call(ws, "b", 11), ("ok", "b_ok2"))
            self.assertEqual(await call(ws, "a", 100), ("ok", "a_ok2"))
            self.assertEqual(await call(ws, "removed", 101), ("error", "unknown_event"))
            ws2 = await open_client(server, "hup2")
            self.assertEqual(await call(ws2, "b", 1), ("ok", "b_ok2"))
        self.arun(go())
        self.assertTrue(server.running())

    def test_sighup_broken_config_keeps_old_one(self):
        server = self.start_server(config("a"))
        broken = [
            "server: [unclosed\n",                                               # YAML syntax
            config("a", "b").replace("events:", "evnts:"),                       # unknown key
            config("a", "b").replace('"_reply"', '"_no_such_action"'),           # unknown action
        ]

        async def go():
            ws = await open_client(server, "hup")
            for i, text in enumerate(broken):
                mark = server.log_mark()
                server.write_config(text)
                wait_caught(server.pid, signal.SIGHUP)
                server.send_signal(signal.SIGHUP)
                server.wait_for_log(lambda l: "reload refused" in str(l.get("msg")), 5, since=mark)
                self.assertTrue(server.running(), f"broken config #{i} stopped the server")
                self.assertEqual(await call(ws, "a", 10 * i + 1), ("ok", "a_ok"), f"broken config #{i}")
                self.assertEqual(await call(ws, "b", 10 * i + 2), ("error", "unknown_event"))
            ws2 = await open_client(server, "hup2")
            self.assertEqual(await call(ws2, "a", 1), ("ok", "a_ok"))
        self.arun(go())

    def test_sighup_empty_config_is_refused(self):
        # Each of these is well-formed YAML without a single event: swapping one in would make
        # every message unknown_event and close every client on its error budget.
        server = self.start_server(config("a"))

        async def go():
            ws = await open_client(server, "hup")
            for i, text in enumerate(["", "# comment\n", "---\n", "null\n", "{}\n"]):
                mark = server.log_mark()
                server.write_config(text)
                server.send_signal(signal.SIGHUP)
                server.wait_for_log(lambda l: "declares no events" in l.get("error", ""), 5, since=mark)
                server.wait_for_log(lambda l: l.get("msg", "").startswith("config reload refused"), 5, since=mark)
                self.assertEqual(await call(ws, "a", i + 1), ("ok", "a_ok"), f"empty config #{i}")
        self.arun(go())

    def test_sighup_dropping_events_in_use_is_refused_until_repeated(self):
        server = self.start_server(config("used", "unused", "kept"))

        def refusal(mark):
            return server.wait_for_log(
                lambda l: l.get("level") == "warn" and l["msg"].startswith("config reload refused"),
                5, since=mark)

        async def go():
            ws = await open_client(server, "hup")
            self.assertEqual(await call(ws, "used", 1), ("ok", "used_ok"))
            self.assertEqual(await call(ws, "kept", 2), ("ok", "kept_ok"))

            # Drops `used` (a client sent it) and `unused` (nobody did): refused, naming `used`.
            mark = server.log_mark()
            server.write_config(config("kept", reply_suffix="2"))
            server.send_signal(signal.SIGHUP)
            line = refusal(mark)
            self.assertEqual(line["events"], "used")
            self.assertIn("SIGHUP again within 60 s", line["msg"])
            self.assertEqual(await call(ws, "used", 3), ("ok", "used_ok"), "the running config stays")
            self.assertEqual(await call(ws, "kept", 4), ("ok", "kept_ok"))

            # Different content does not count as the confirmation: refused again.
            mark = server.log_mark()
            server.write_config(config("kept", "new", reply_suffix="2"))
            server.send_signal(signal.SIGHUP)
            refusal(mark)
            self.assertEqual(await call(ws, "used", 5), ("ok", "used_ok"))

            # The same content again within 60 s: applied.
            mark = server.log_mark()
            server.send_signal(signal.SIGHUP)
            server.wait_for_log(lambda l: l.get("msg") == "config reloaded", 5, since=mark)
            deadline = time.monotonic() + 5
            ident = 10
            while (result := await call(ws, "kept", ident)) != ("ok", "kept_ok2"):
                self.assertLess(time.monotonic(), deadline, "the forced config was never installed")
                ident += 1
                await asyncio.sleep(0.1)
            self.assertEqual(await call(ws, "used", 100), ("error", "unknown_event"))
        self.arun(go())

    def test_sighup_dropping_only_unused_events_applies_at_once(self):
        server = self.start_server(config("used", "unused"))

        async def go():
            ws = await open_client(server, "hup")
            self.assertEqual(await call(ws, "used", 1), ("ok", "used_ok"))
            mark = server.log_mark()
            server.write_config(config("used", reply_suffix="2"))
            server.send_signal(signal.SIGHUP)
            server.wait_for_log(lambda l: l.get("msg") == "config reloaded", 5, since=mark)
        self.arun(go())


class OtherSignals(DispatchTestCase):
    def test_sigpipe_and_default_ignored_signals_do_not_stop(self):
        server = self.start_server(config("a"))
        wait_caught(server.pid, signal.SIGHUP)     # the barrier below uses SIGHUP
        for sig in (signal.SIGPIPE, signal.SIGWINCH, signal.SIGURG, signal.SIGCHLD):
            server.send_signal(sig)
            # Barrier: once `sig` is no longer pending it has been delivered (a default action
            # would have ended the process); a handler's work would come before the SIGHUP's,
            # which is handled in the order the signals arrived.
            wait_not_pending(server.pid, sig)
            mark = server.log_mark()
            server.send_signal(signal.SIGHUP)
            server.wait_for_log(lambda l: l.get("msg") == "config reloaded", 5, since=mark)
            self.assertTrue(server.running(), f"{sig.name} stopped the server")
            self.assertEqual([l for l in server.logs() if l.get("msg") == "shutting down"], [], sig.name)

        async def go():
            ws = await open_client(server, "alive")
            self.assertEqual(await call(ws, "a", 1), ("ok", "a_ok"))
        self.arun(go())

    def test_client_vanishing_mid_stream_is_harmless(self):
        # Writes to a socket the peer reset raise EPIPE/ECONNRESET, never a fatal SIGPIPE.
        server = self.start_server(free_config({
            "join": {"actions": [{"name": "_join", "params": ["{$user.id}", "{$target.id}"]}]},
            "say": {"actions": [{"name": "_notify_room", "params": ["said", "{.payload}"]}]},
        }))
        for _ in range(3):
            raw = RawWebSocket(server.port, make_token("vanish"), rcvbuf=4096)
            raw.recv_json()
            raw.send_json({"event": "join", "target": "room:v"})
            raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

            async def flood():
                ws = await open_client(server, "speaker")
                await request(ws, {"event": "join", "target": "room:v", "id": 0})
                for i in range(50):
                    await ws.send('{"event":"say","target":"room:v","payload":"' + "y" * 20000 + '"}')
                raw.close()      # RST with unread data
                for i in range(50):
                    await ws.send('{"event":"say","target":"room:v","payload":"z"}')
                frames = await request(ws, {"event": "say", "target": "room:v", "payload": 1, "id": 1})
                self.assertEqual(frames[-1]["event"], "ack")
            self.arun(flood())
        self.assertTrue(server.running())


class ListenAddressOverride(DispatchTestCase):
    """`dispatch serve --address host:port` (and `dispatch --address`) listens there instead of
    at the config's server.address; the file is not touched and a reload keeps the override."""

    def test_serve_address_replaces_config_address(self):
        with socket.socket() as taken:      # the config's own address is held by someone else
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            text = config("a", address=f"127.0.0.1:{port}")
            server = self.start_server(text, args=["--address", "127.0.0.1:0"])
            self.assertEqual(server.listening["address"], "127.0.0.1")
            self.assertNotEqual(server.port, port)
            with open(server.config_path, encoding="utf-8") as f:
                self.assertEqual(f.read(), text)

            async def go():
                ws = await open_client(server, "addr")
                self.assertEqual(await call(ws, "a", 1), ("ok", "a_ok"))
                # A reload applies the same override: no "changes only on restart" warning.
                mark = server.log_mark()
                wait_caught(server.pid, signal.SIGHUP)
                server.send_signal(signal.SIGHUP)
                server.wait_for_log(lambda l: l.get("msg") == "config reloaded", 5, since=mark)
                self.assertEqual([l for l in server.logs()[mark:] if "only on restart" in str(l.get("msg"))], [])
                self.assertEqual(await call(ws, "a", 2), ("ok", "a_ok"))
                ws2 = await open_client(server, "addr2")
                self.assertEqual(await call(ws2, "a", 1), ("ok", "a_ok"))
            self.arun(go())

    def test_default_run_takes_address(self):
        # No command and no config: the embedded development config, on the address given.
        server = self.start_server(command=(), config_arg=False, args=["--address", "127.0.0.1:0"])
        self.assertEqual(server.listening["address"], "127.0.0.1")
        self.assertNotEqual(server.port, 8080)
        self.assertIn("embedded DEVELOPMENT config", server.output())

    def test_bad_address_is_a_command_line_error(self):
        for argv in (["serve", "--address", "127.0.0.1"], ["--address", "[::1:80"],
                     ["serve", "--address", "127.0.0.1:99999"]):
            r = run_dispatch(argv, timeout=10)
            self.assertEqual(r.returncode, 2, r)
            self.assertIn("--address", r.stderr, r)


class StartupFailures(DispatchTestCase):
    def run_serve(self, text, env=None, timeout=12):
        try:
            return run_dispatch(["serve", "--config", "{config}"], text, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"dispatch kept running for {timeout}s instead of exiting 1")

    def test_port_taken_by_plain_listener(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            r = self.run_serve(config("a", address=f"127.0.0.1:{port}"))
        self.assertEqual(r.returncode, 1, r)
        out = r.stdout + r.stderr
        self.assertIn(str(port), out)
        self.assertRegex(out, re.compile(r"in use|EADDRINUSE", re.I))

    def test_port_taken_with_so_reuseport(self):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            r = self.run_serve(config("a", address=f"127.0.0.1:{port}"))
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(str(port), r.stdout + r.stderr)

    def test_missing_config_file(self):
        r = run_dispatch(["serve", "--config", "/nonexistent/dispatch.yaml"], timeout=10)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("/nonexistent/dispatch.yaml", r.stdout + r.stderr)

    BAD = (
        "server:\n"                                  # 1
        '  address: "127.0.0.1:0"\n'                 # 2
        "  pth: /ws\n"                               # 3  unknown key (did you mean path)
        "auth:\n"                                    # 4
        "  jwt:\n"                                   # 5
        "    secret: ${DISPATCH_JWT_SECRET}\n"       # 6
        "events:\n"                                  # 7
        "  e:\n"                                     # 8
        "    actions:\n"                             # 9
        "      - name: _no_such_action\n"            # 10 unknown action
        "        params: [\"x\", '{}']\n"            # 11
    )

    def test_bad_config_serve(self):
        r = run_dispatch(["serve", "--config", "{config}"], self.BAD, timeout=10)
        self.assertEqual(r.returncode, 1, r)
        self.assertRegex(r.stderr, r"config\.yaml:3:\d+: ", r.stderr)
        line = next(l for l in r.stderr.splitlines() if re.search(r"config\.yaml:3:\d+: ", l))
        self.assertIn("path", line, "an unknown key gets a did-you-mean hint")

    def test_check_prints_every_error(self):
        r = run_dispatch(["check", "--config", "{config}"], self.BAD, timeout=10)
        self.assertEqual(r.returncode, 1, r)
        out = r.stdout + r.stderr
        self.assertRegex(out, r"config\.yaml:3:\d+: ")
        self.assertRegex(out, r"config\.yaml:10:\d+: ")

    def test_check_refuses_placeholder_like_text(self):
        """`{payload.x}` and `{ $user.id }` are not placeholders: instead of sending them as text,
        `check` refuses them at their param, saying what was meant."""
        events = ("e:\n"
                  "  actions:\n"
                  "    - name: _reply\n"
                  "      params: [r, '{\"a\": \"{payload.x}\", \"b\": \"{ $user.id }\"}']\n")
        r = run_dispatch(["check", "--config", "{config}"], free_config(events), timeout=10)
        self.assertEqual(r.returncode, 1, r)
        out = r.stdout + r.stderr
        self.assertRegex(out, r"config\.yaml:\d+:\d+: .*did you mean \{\.payload\.x\}\?", out)
        escaped = events.replace("{payload.x}", "{{payload.x}}").replace("{ $user.id }", "{$user.id}")
        r = run_dispatch(["check", "--config", "{config}"], free_config(escaped), timeout=10)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_check_valid_config(self):
        r = run_dispatch(["check", "--config", "{config}"], config("a"), timeout=10)
        self.assertEqual(r.returncode, 0, r)

    def test_duplicate_key(self):
        text = config("a").replace('  path: "/ws"\n', '  path: "/ws"\n  path: "/other"\n')
        self.assertIn('path: "/other"', text)
        r = run_dispatch(["check", "--config", "{config}"], text, timeout=10)
        self.assertEqual(r.returncode, 1, r)
        self.assertRegex(r.stdout + r.stderr, r"config\.yaml:\d+:\d+: ")

    def test_unset_env_variable_named(self):
        text = config("a").replace("${DISPATCH_JWT_SECRET}", "${DISPATCH_TEST_SURELY_UNSET_VAR}")
        r = self.run_serve(text, env={"DISPATCH_TEST_SURELY_UNSET_VAR": None})
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("DISPATCH_TEST_SURELY_UNSET_VAR", r.stdout + r.stderr)

    def test_empty_secret_is_an_error(self):
        r = self.run_serve(config("a"), env={"DISPATCH_JWT_SECRET": ""})
        self.assertEqual(r.returncode, 1, r)

    def test_config_without_events_is_an_error(self):
        for text in ["", "# comment\n", "---\n", "null\n", "{}\n"]:
            for command in ("check", "serve"):
                r = run_dispatch([command, "--config", "{config}"], text, timeout=10)
                self.assertEqual(r.returncode, 1, (command, text, r))
                self.assertIn("declares no events", r.stdout + r.stderr)

    def test_config_path_that_is_a_directory_or_fifo_is_an_error(self):
        tmp = tempfile.mkdtemp(prefix="dispatch-notafile-")
        self.addCleanup(shutil.rmtree, tmp, True)
        fifo = os.path.join(tmp, "fifo.yaml")
        os.mkfifo(fifo)
        for path, why in ((tmp, "directory"), (fifo, "FIFO")):
            for command in ("check", "serve"):
                try:
                    r = run_dispatch([command, "--config", path], timeout=10)
                except subprocess.TimeoutExpired:
                    self.fail(f"`{command}` hung on a config path that is a {why}")
                self.assertEqual(r.returncode, 1, r)
                self.assertIn(f"{path}: cannot read the config file: it is a", r.stdout + r.stderr)
                self.assertIn(why, r.stdout + r.stderr)
        # The same for the .env file, even when --env-file is not given explicitly.
        os.mkfifo(os.path.join(tmp, ".env"))
        try:
            r = run_dispatch(["check", "--config", "{config}"], config("a"), cwd=tmp, timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("`check` hung on a .env that is a FIFO")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(".env: cannot read the environment file: it is a FIFO", r.stdout + r.stderr)

    def test_bad_command_line_exit_2(self):
        r = run_dispatch(["serve", "--no-such-flag"], timeout=10)
        self.assertEqual(r.returncode, 2, r)
        r = run_dispatch(["frobnicate"], timeout=10)
        self.assertEqual(r.returncode, 2, r)


if __name__ == "__main__":
    unittest.main()
