"""Transport behaviour of the real `dispatch` binary: server pings, timeouts, handshake limits,
bounded close handshakes and slow consumers (SPEC sections 2, 3, 7).

Every test ends by proving a fresh client is still served (ServerCase.tearDown).

Run: cd tests/conformance && DISPATCH_BIN=... PYTHONPATH=../integration \
     /usr/bin/python3 -m unittest -v test_transport
"""

import json
import os
import socket
import threading
import time
import unittest

from dispatch_harness import http_request
from wsframes import (OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, Closed, HandshakeFailed, ServerCase,
                      WSClient, build_frame, echo_of_size, echo_text, make_token, server_config)


def drain_until_close(c, timeout, answer_pings=False, ping_every=None, data_every=None):
    """Reads frames for up to `timeout` s. Returns (outcome, elapsed, info):
    outcome is ("close", code, reason), ("tcp-closed",) or ("open",); info counts frames."""
    start = time.monotonic()
    deadline = start + timeout
    info = {"pings": 0, "pongs": 0, "data": [], "sent_pings": 0, "sent_data": 0}
    next_ping = start + ping_every if ping_every else None
    next_data = start + data_every if data_every else None
    while True:
        now = time.monotonic()
        if now >= deadline:
            return ("open",), now - start, info
        if next_ping and now >= next_ping:
            c.try_send(build_frame(OP_PING, b"client-%d" % info["sent_pings"]))
            info["sent_pings"] += 1
            next_ping += ping_every
        if next_data and now >= next_data:
            c.try_send(build_frame(OP_TEXT, echo_text({"n": info["sent_data"]}).encode()))
            info["sent_data"] += 1
            next_data += data_every
        wait = deadline - now
        for t in (next_ping, next_data):
            if t:
                wait = min(wait, max(0.001, t - now))
        try:
            f = c.recv_frame(timeout=wait)
        except TimeoutError:
            continue
        except Closed:
            return ("tcp-closed",), time.monotonic() - start, info
        if f.opcode == OP_PING:
            info["pings"] += 1
            if answer_pings:
                c.try_send(build_frame(OP_PONG, f.payload))
        elif f.opcode == OP_PONG:
            info["pongs"] += 1
        elif f.opcode == OP_CLOSE:
            return ("close", f.close_code(), f.close_reason()), time.monotonic() - start, info
        else:
            info["data"].append(f)


class ServerPings(ServerCase):
    CONFIG = server_config("  ping_interval: 300ms\n  pong_timeout: 300ms\n")

    def test_client_answering_pings_stays_connected(self):
        c = self.connect()
        outcome, _, info = drain_until_close(c, 2.0, answer_pings=True)
        self.assertEqual(outcome, ("open",), f"dropped although it answered {info['pings']} pings")
        self.assertGreaterEqual(info["pings"], 3, "server should ping every 300ms")
        self.roundtrip(c, "still here")

    def test_client_that_pings_is_not_pinged_until_it_stops(self):
        # Our pong to its ping does what our ping would; without the rule it would get ~5 pings.
        c = self.connect()
        outcome, _, info = drain_until_close(c, 1.5, answer_pings=True, ping_every=0.1)
        self.assertEqual(outcome, ("open",))
        self.assertGreaterEqual(info["pongs"], 8, "its pings were not answered")
        self.assertLessEqual(info["pings"], 1, "pinged although it pinged every 100 ms")
        outcome, _, info = drain_until_close(c, 1.5, answer_pings=True)
        self.assertEqual(outcome, ("open",))
        self.assertGreaterEqual(info["pings"], 2, "not pinged after it stopped pinging")

    def test_client_never_answering_pings_is_dropped(self):
        c = self.connect()
        t0 = time.monotonic()
        outcome, elapsed, info = drain_until_close(c, 3.0, answer_pings=False)
        self.assertNotEqual(outcome, ("open",), "silent client not dropped within 3 s")
        self.assertGreaterEqual(info["pings"], 1, "dropped without ever being pinged")
        if outcome[0] == "close":
            self.assertEqual(outcome[1:], (4000, "timeout"))
            # we never answer the close: the server must still close TCP (bounded handshake)
            c.wait_closed(timeout=3.0)
        # silent for ping_interval + pong_timeout (0.6 s) -> dropped; allow timer slack
        self.assertGreaterEqual(elapsed, 0.45, f"dropped after only {elapsed:.2f}s")
        self.assertLessEqual(elapsed, 1.6, f"dropped only after {elapsed:.2f}s")
        self.assertLess(time.monotonic() - t0, 5.0)


class ReadTimeout(ServerCase):
    CONFIG = server_config("  read_timeout: 500ms\n  ping_interval: 200ms\n  pong_timeout: 2s\n")

    def test_no_data_messages_closes_4000_even_with_pings_and_pongs(self):
        c = self.connect()
        outcome, elapsed, info = drain_until_close(c, 3.0, answer_pings=True, ping_every=0.1)
        self.assertEqual(outcome, ("close", 4000, "timeout"),
                         f"after {elapsed:.2f}s; pings seen {info['pings']}, "
                         f"pongs seen {info['pongs']} for {info['sent_pings']} sent")
        self.assertGreaterEqual(info["pongs"], 2, "our pings were not answered")
        self.assertGreaterEqual(elapsed, 0.45)
        self.assertLessEqual(elapsed, 1.5)
        c.try_send(build_frame(OP_CLOSE, b"\x0f\xa0"))   # we answer: the handshake is complete
        took = c.wait_closed(timeout=3.0)
        self.assertLess(took, 1.0, f"server kept TCP open {took:.2f}s after the close handshake")

    def test_data_messages_keep_the_connection(self):
        c = self.connect()
        outcome, _, info = drain_until_close(c, 1.8, answer_pings=True, data_every=0.2)
        self.assertEqual(outcome, ("open",), f"closed although data arrived every 200ms: {info}")
        got = [f.json()["payload"]["n"] for f in info["data"]]
        self.assertEqual(got, list(range(len(got))))
        self.assertGreaterEqual(len(got), info["sent_data"] - 1)


class Handshake(ServerCase):
    CONFIG = server_config("  handshake_timeout: 500ms\n  max_header_size: 2KiB\n"
                           "  max_message_size: 2KiB\n")

    def test_stalled_upgrade_request_is_closed_and_others_unaffected(self):
        stall = self.raw_tcp()
        t0 = time.monotonic()
        stall.send_raw(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        # meanwhile a good client is served at once
        c = self.connect()
        self.roundtrip(c, "not blocked by a stalled handshake")
        took = stall.wait_closed(timeout=2.5 - (time.monotonic() - t0))
        self.assertLessEqual(time.monotonic() - t0, 1.5, f"stalled handshake closed after {took:.2f}s")
        self.roundtrip(c, "still fine")

    def test_trickled_upgrade_request_is_closed_by_the_deadline(self):
        # one byte every 50 ms: never idle, but the request is not whole within 500 ms
        stall = self.raw_tcp()
        req = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nX-Slow: " + b"s" * 200 + b"\r\n\r\n")
        t0 = time.monotonic()
        closed = False
        for i in range(len(req)):
            if not stall.try_send(req[i:i + 1]):
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() - t0 > 3.0:
                break
        if not closed:
            stall.wait_closed(timeout=0.5)
        self.assertLessEqual(time.monotonic() - t0, 1.8, "handshake deadline is not absolute")

    def test_oversized_upgrade_request_is_refused(self):
        token = make_token("big-header")
        c = self.raw_tcp()
        with self.assertRaises(HandshakeFailed) as cm:
            c.handshake("127.0.0.1", self.server.port, token=token, headers={"X-Pad": "p" * 3000})
        self.assertIn(cm.exception.status, (431, 400), cm.exception.raw[:300])
        c.wait_closed(timeout=2.0)
        # a request under the limit is fine
        ok = self.connect(headers={"X-Pad": "p" * 1200})
        self.roundtrip(ok, "1.2 KiB of headers")

    def test_many_half_open_handshakes_do_not_block_a_good_client(self):
        idle = []
        try:
            for _ in range(50):
                s = socket.create_connection(("127.0.0.1", self.server.port), timeout=2)
                idle.append(s)
            t0 = time.monotonic()
            c = self.connect()
            self.roundtrip(c, "served despite 50 idle sockets")
            self.assertLess(time.monotonic() - t0, 2.0)
            # and the idle ones are closed by handshake_timeout
            deadline = time.monotonic() + 3.0
            open_ = list(idle)
            while open_ and time.monotonic() < deadline:
                for s in list(open_):
                    s.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
                    try:
                        if s.recv(4096) == b"":
                            open_.remove(s)
                    except socket.timeout:
                        pass
                    except OSError:
                        open_.remove(s)
            self.assertEqual(len(open_), 0, f"{len(open_)} of 50 idle sockets still open after 3 s")
            self.roundtrip(c, "still fine")
        finally:
            for s in idle:
                s.close()

    def test_plain_get_on_ws_path_is_426(self):
        r = http_request(self.server.port, "GET", "/ws",
                         {"Authorization": "Bearer " + make_token("plain")}, timeout=3)
        self.assertEqual(r.status, 426, r)
        self.assertIsInstance(r.json().get("error"), str, r.body)

    def test_garbage_bytes_are_closed(self):
        for name, junk in (("tls client hello", bytes.fromhex("160301020001000001fc0303") + os.urandom(64)),
                           ("binary junk", b"\x00\xff\xfe" + os.urandom(200) + b"\r\n\r\n"),
                           ("not http", b"HELLO THERE\r\n\r\n")):
            with self.subTest(case=name):
                c = self.raw_tcp()
                c.send_raw(junk)
                c.wait_closed(timeout=2.0)
                c.abort()

    def test_server_close_never_answered_is_closed_within_bound(self):
        c = self.connect()
        c.send_frame(OP_TEXT, echo_of_size(3000))
        code, reason, _ = c.expect_close(timeout=2.0, reply=False)
        self.assertEqual(code, 1009, reason)
        t0 = time.monotonic()
        took = c.wait_closed(timeout=4.0)   # spec: closed hard if no answer within 2 s
        self.assertLessEqual(took, 3.0, f"TCP closed only {took:.2f}s after the close frame")
        self.assertLess(time.monotonic() - t0, 4.5)


class Bursts(ServerCase):
    """A client that writes far more than one read takes (the server reads a few 64 KiB buffers
    per turn, then comes back to the rest by itself: no new bytes arrive to remind it)."""
    CONFIG = server_config("  send_queue_limit: 8MiB\n")
    MESSAGES = 4000  # 300 B each: 1.2 MB written in one sendall

    def test_one_large_write_is_answered_completely_and_in_order(self):
        c = self.connect(rcvbuf=1 << 20)
        burst = b"".join(
            build_frame(OP_TEXT, json.dumps({"event": "echo", "payload": {"n": i, "pad": "p" * 250}},
                                            separators=(",", ":")).encode())
            for i in range(self.MESSAGES))
        self.assertGreater(len(burst), 4 * 65536 * 4)
        got, errors = [], []

        def read_all():
            try:
                while len(got) < self.MESSAGES:
                    got.append(c.recv_json(timeout=10)["payload"]["n"])
            except BaseException as e:   # reported by the main thread
                errors.append(e)

        t = threading.Thread(target=read_all, daemon=True)
        t.start()
        c.sock.settimeout(10)
        c.sock.sendall(burst)
        t.join(timeout=30)
        self.assertEqual(errors, [], f"failed after {len(got)} echoes")
        self.assertEqual(got, list(range(self.MESSAGES)))


class ClientFin(ServerCase):
    """A client that sends its last message and its FIN together (shutdown of its sending side):
    the message is answered, and the server closes at once rather than at the ping timeout."""
    CONFIG = server_config()

    def test_last_message_with_fin_is_answered_then_closed(self):
        for case in ("fin right after", "fin with a burst"):
            with self.subTest(case=case):
                c = self.connect()
                count = 1 if case == "fin right after" else 300
                c.sock.sendall(b"".join(build_frame(OP_TEXT, echo_text({"n": i}).encode())
                                        for i in range(count)))
                c.sock.shutdown(socket.SHUT_WR)
                for i in range(count):
                    self.assert_echo(c, {"n": i})
                took = c.wait_closed(timeout=3.0)
                self.assertLess(took, 3.0)


SLOW_CONFIG = server_config(
    "  send_queue_limit: 64KiB\n  slow_consumer: disconnect\n",
    extra="""\
  join:
    actions:
      - name: _join
        params: ["{$user.id}", "{$target.id}", "connection"]
  say:
    actions:
      - name: _notify_room
        params: ["said", "{.payload}"]
""")


class SlowConsumer(ServerCase):
    CONFIG = SLOW_CONFIG
    MESSAGES = 3000        # ~2 KiB each: ~6 MB, more than loopback kernel buffers can hide
    PAD = "f" * 2000

    def join(self, c, room, ref):
        c.send_text(json.dumps({"event": "join", "target": room, "id": ref}))
        msg = c.recv_json(timeout=3)
        self.assertEqual(msg, {"event": "ack", "payload": {"ref": ref}})

    def test_never_reading_member_is_disconnected_others_unaffected(self):
        room = "flood-%s" % os.urandom(3).hex()
        reader = WSClient.open(self.server.port, token=make_token("reader"), rcvbuf=1 << 20)
        self.addCleanup(reader.abort)
        sleeper = WSClient.open(self.server.port, token=make_token("sleeper"), rcvbuf=4096)
        self.addCleanup(sleeper.abort)
        flooder = self.connect("flooder")
        self.join(reader, room, 1)
        self.join(sleeper, room, 2)
        # from here on the sleeper reads nothing

        got, errors = [], []

        def read_all():
            try:
                while len(got) < self.MESSAGES:
                    m = reader.recv_json(timeout=15)
                    got.append(m)
            except BaseException as e:   # reported by the main thread
                errors.append(e)

        # Frames are built (and masked) before the flood, so that the flooding loop leaves the
        # CPU (and the GIL) to the reading thread: the reader must be able to keep up.
        batches, batch = [], b""
        for i in range(self.MESSAGES):
            batch += build_frame(OP_TEXT, json.dumps(
                {"event": "say", "target": room, "payload": {"seq": i, "pad": self.PAD}}).encode())
            if i % 32 == 31 or i == self.MESSAGES - 1:
                batches.append((i, batch))
                batch = b""

        t = threading.Thread(target=read_all, daemon=True)
        t.start()

        t0 = time.monotonic()
        flooder.sock.settimeout(10)
        for i, batch in batches:
            try:
                flooder.sock.sendall(batch)
            except socket.timeout:
                self.fail(f"flooder blocked for 10 s after {i} messages")
            time.sleep(0.004)
        flood_time = time.monotonic() - t0
        self.assertLess(flood_time, 30.0)

        # the flooder is served at once: its echo comes back promptly
        t1 = time.monotonic()
        self.roundtrip(flooder, "flooder not blocked")
        self.assertLess(time.monotonic() - t1, 2.0)

        t.join(timeout=30)
        self.assertFalse(t.is_alive(), f"reader got only {len(got)} of {self.MESSAGES} in time")
        self.assertEqual(errors, [], f"reader failed after {len(got)} messages")
        seqs = [m["payload"]["seq"] for m in got]
        self.assertEqual(seqs, list(range(self.MESSAGES)), "reader lost or reordered messages")
        self.assertEqual(got[0]["event"], "said")
        self.assertEqual(got[0].get("room"), room)
        self.assertEqual(got[0].get("from"), "flooder")

        # now the sleeper reads what it has: some messages, then close 1008 or EOF, never all
        received, end = 0, None
        deadline = time.monotonic() + 10
        while end is None and time.monotonic() < deadline:
            try:
                f = sleeper.recv_frame(timeout=max(0.01, deadline - time.monotonic()))
            except Closed as e:
                end = ("tcp-closed", str(e))
                break
            except TimeoutError:
                break
            if f.opcode == OP_CLOSE:
                end = ("close", f.close_code(), f.close_reason())
            elif f.opcode == OP_TEXT:
                received += 1
        self.assertIsNotNone(end, f"slow consumer still connected after reading {received} "
                                  f"of {self.MESSAGES} messages")
        self.assertLess(received, self.MESSAGES, "the slow consumer got every message")
        if end[0] == "close":
            self.assertEqual(end[1:], (1008, "slow consumer"))
            sleeper.wait_closed(timeout=3.0)


if __name__ == "__main__":
    unittest.main()
