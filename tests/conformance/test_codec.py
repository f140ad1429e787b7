"""RFC 6455 codec conformance of the real `dispatch` binary (SPEC sections 3, 4, 7).

Each case talks raw frames to the server (wsframes.py) and asserts the exact close code in the
server's close frame, and that the server then closes TCP within a bounded time. Every test
ends by proving a fresh client is still served (ServerCase.tearDown).

Run: cd tests/conformance && DISPATCH_BIN=... PYTHONPATH=../integration \
     /usr/bin/python3 -m unittest -v test_codec
"""

import os
import struct
import time
import unittest

from wsframes import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, ServerCase,
                      build_frame, close_payload, echo_of_size, echo_text, server_config)

BIG = server_config("  max_message_size: 128KiB\n")
SMALL = server_config("  max_message_size: 2KiB\n")

PREFIX = b'{"event":"echo","payload":"'
SUFFIX = b'"}'


def long_payload(n=300):
    return {"text": "".join(chr(ord("a") + i % 26) for i in range(n)), "n": n}


class Framing(ServerCase):
    CONFIG = BIG

    def test_text_message_in_one_frame(self):
        c = self.connect("codec-user")
        w = c.welcome
        self.assertEqual(list(w.keys()), ["event", "payload"], w)
        self.assertEqual(w["payload"].get("user_id"), "codec-user", w)
        self.assertIsInstance(w["payload"].get("conn_id"), str, w)
        self.assertTrue(str(w["payload"].get("server", "")).startswith("dispatch/"), w)
        self.roundtrip(c, {"greeting": "hello", "n": 1})

    def test_fragmented_2_and_50(self):
        c = self.connect()
        for pieces in (2, 50):
            with self.subTest(fragments=pieces):
                payload = long_payload(400)
                c.send_fragmented(echo_text(payload), pieces)
                self.assert_echo(c, payload)

    def test_fragments_of_uneven_and_empty_sizes(self):
        c = self.connect()
        payload = long_payload(100)
        data = echo_text(payload).encode()
        # empty first fragment, an empty middle fragment, a 1-byte one, and an empty final one
        c.send_frame(OP_TEXT, b"", fin=False)
        c.send_frame(OP_CONT, data[:10], fin=False)
        c.send_frame(OP_CONT, b"", fin=False)
        c.send_frame(OP_CONT, data[10:11], fin=False)
        c.send_frame(OP_CONT, data[11:], fin=False)
        c.send_frame(OP_CONT, b"", fin=True)
        self.assert_echo(c, payload)

    def test_ping_between_fragments_is_answered_and_message_completes(self):
        c = self.connect()
        payload = long_payload(200)
        pongs = []

        def ping(i):
            body = b"between-%d" % i
            c.send_frame(OP_PING, body)
            f = c.recv_frame(timeout=3)
            self.assertEqual(f.opcode, OP_PONG, f"want a pong in the middle of a message, got {f!r}")
            self.assertEqual(f.payload, body)
            pongs.append(f)

        c.send_fragmented(echo_text(payload), 4, between=ping)
        self.assertEqual(len(pongs), 3)
        self.assert_echo(c, payload)

    def test_ping_payload_sizes(self):
        c = self.connect()
        for n in (0, 1, 125):
            with self.subTest(size=n):
                body = bytes((i * 7) & 0xFF for i in range(n))   # binary bytes, not UTF-8
                c.send_frame(OP_PING, body)
                f = c.recv_frame(timeout=3)
                self.assertEqual(f.opcode, OP_PONG, repr(f))
                self.assertEqual(f.payload, body)
        self.roundtrip(c, "after pings")

    def test_unsolicited_pong_is_ignored(self):
        c = self.connect()
        c.send_frame(OP_PONG, b"unsolicited")
        c.send_frame(OP_PONG, b"")
        c.send_text(echo_text("after pong"))
        f = c.recv_frame(timeout=3)   # the very next frame must be the echo: nothing else
        self.assertEqual(f.opcode, OP_TEXT, repr(f))
        self.assertEqual(f.json(), {"event": "echo", "payload": "after pong"})

    def test_close_in_the_middle_of_a_fragmented_message(self):
        c = self.connect()
        c.send_frame(OP_TEXT, PREFIX, fin=False)
        c.send_close(1000)
        code, _, before = c.expect_close(timeout=3)
        self.assertEqual(code, 1000, f"frames before close: {before!r}")
        self.assertEqual(before, [], "an unfinished message must not be processed")
        c.wait_closed(timeout=1.5)

    def test_binary_frame_with_json_is_processed_like_text(self):
        c = self.connect()
        c.send_json({"event": "echo", "payload": {"via": "binary", "x": [1, 2]}}, opcode=OP_BINARY)
        self.assert_echo(c, {"via": "binary", "x": [1, 2]})   # answered with a TEXT frame
        # fragmented binary message too
        c.send_fragmented(echo_text({"via": "binary-frags"}), 3, opcode=OP_BINARY)
        self.assert_echo(c, {"via": "binary-frags"})

    def test_two_messages_in_one_tcp_write(self):
        c = self.connect()
        data = (build_frame(OP_TEXT, echo_text(1).encode())
                + build_frame(OP_TEXT, echo_text(2).encode())
                + build_frame(OP_PING, b"p")
                + build_frame(OP_TEXT, echo_text(3).encode()))
        c.send_raw(data)
        got = []
        while len(got) < 4:
            f = c.recv_frame(timeout=3)
            got.append(("pong", f.payload) if f.opcode == OP_PONG else ("echo", f.json()["payload"]))
        echoes = [p for k, p in got if k == "echo"]
        self.assertEqual(echoes, [1, 2, 3], got)
        self.assertIn(("pong", b"p"), got)

    def test_frames_dribbled_one_byte_per_send(self):
        c = self.connect()
        payload = {"dribble": "one byte at a time"}
        data = echo_text(payload).encode()
        stream = (build_frame(OP_TEXT, data[:20], fin=False)
                  + build_frame(OP_PING, b"dp")
                  + build_frame(OP_CONT, data[20:], fin=True))
        c.send_raw(stream, chunk=1, delay=0.002)
        f = c.recv_frame(timeout=3)
        self.assertEqual((f.opcode, f.payload), (OP_PONG, b"dp"), repr(f))
        self.assert_echo(c, payload)
        # and a 200-byte frame with a 16-bit length, split into 3-byte writes
        payload = "x" * 200
        c.send_raw(build_frame(OP_TEXT, echo_text(payload).encode()), chunk=3, delay=0.001)
        self.assert_echo(c, payload)


class LengthEncodings(ServerCase):
    CONFIG = BIG

    def test_all_payload_length_encodings(self):
        c = self.connect()
        for n in (125, 126, 127, 65535, 65536, 100000):
            with self.subTest(length=n):
                msg = echo_of_size(n)
                self.assertEqual(len(msg), n)
                c.send_frame(OP_TEXT, msg)
                reply = self.assert_echo(c, "a" * (n - 29))
                self.assertEqual(len(reply["payload"]), n - 29)

    def test_non_minimal_length_encoding_accepted_or_1002(self):
        # RFC 6455 5.2 says the minimal encoding MUST be used; servers differ on enforcing it.
        # Either outcome is acceptable; a hang, a crash or another code is not.
        for nbytes in (2, 8):
            with self.subTest(length_bytes=nbytes):
                c = self.connect()
                c.send_frame(OP_TEXT, echo_text("nonminimal").encode(), length_bytes=nbytes)
                f = c.recv_data_frame(timeout=3)
                if f.opcode == OP_CLOSE:
                    self.assertEqual(f.close_code(), 1002, repr(f))
                    c.try_send(build_frame(OP_CLOSE, f.payload[:2]))
                    c.wait_closed(3)
                else:
                    self.assertEqual(f.json(), {"event": "echo", "payload": "nonminimal"})
                c.abort()


class ProtocolErrors(ServerCase):
    CONFIG = BIG

    def test_unmasked_client_frame(self):
        c = self.connect()
        c.send_frame(OP_TEXT, echo_text("unmasked").encode(), mask=False)
        self.assert_fails(c, 1002, what="unmasked text frame")

    def test_unmasked_control_frame(self):
        c = self.connect()
        c.send_frame(OP_PING, b"unmasked", mask=False)
        self.assert_fails(c, 1002, what="unmasked ping")

    def test_rsv_bits(self):
        cases = [(f"text with RSV {rsv:03b}",
                  lambda c, rsv=rsv: c.send_frame(OP_TEXT, echo_text("rsv").encode(), rsv=rsv), 1002)
                 for rsv in (4, 2, 1, 7)]
        cases.append(("ping with RSV1", lambda c: c.send_frame(OP_PING, b"x", rsv=4), 1002))
        self.assert_fail_cases(cases)

    def test_reserved_opcodes(self):
        self.assert_fail_cases([(f"opcode 0x{op:X}", lambda c, op=op: c.send_frame(op, b"reserved"), 1002)
                                for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)])

    def test_continuation_with_nothing_to_continue(self):
        self.assert_fail_cases([
            (f"orphan continuation fin={fin}",
             lambda c, fin=fin: c.send_frame(OP_CONT, echo_text("orphan").encode(), fin=fin), 1002)
            for fin in (True, False)])

    def test_continuation_after_a_complete_message(self):
        c = self.connect()
        self.roundtrip(c, "complete")
        c.send_frame(OP_CONT, b"more", fin=True)
        self.assert_fails(c, 1002, what="continuation after a finished message")

    def test_new_data_frame_while_fragmented_message_open(self):
        def case(op):
            def send(c):
                c.send_frame(OP_TEXT, PREFIX, fin=False)
                c.send_frame(op, echo_text("intruder").encode(), fin=True)
            return (f"opcode {op} inside a fragmented message", send, 1002)
        self.assert_fail_cases([case(OP_TEXT), case(OP_BINARY)])

    def test_control_frame_payload_over_125(self):
        self.assert_fail_cases([
            (f"control 0x{op:X} with {len(body)} bytes", lambda c, op=op, body=body: c.send_frame(op, body), 1002)
            for op, body in ((OP_PING, b"p" * 126), (OP_PONG, b"q" * 126),
                             (OP_CLOSE, close_payload(1000, b"r" * 124)), (OP_PING, b"p" * 65536))])

    def test_fragmented_control_frame(self):
        self.assert_fail_cases([
            (f"control 0x{op:X} with FIN=0",
             lambda c, op=op: c.send_frame(op, close_payload(1000) if op == OP_CLOSE else b"frag", fin=False),
             1002)
            for op in (OP_PING, OP_PONG, OP_CLOSE)])

    def test_64bit_length_with_msb_set(self):
        c = self.connect()
        # 0x81, mask bit + 127, then 0x8000000000000005, then a mask key, then 5 bytes
        c.send_raw(bytes([0x81, 0xFF]) + struct.pack("!Q", (1 << 63) | 5) + os.urandom(4) + b"hello")
        self.assert_fails(c, 1002, what="64-bit length with MSB set")


class Utf8(ServerCase):
    CONFIG = BIG

    INVALID = {
        "lone continuation byte": b"\x80",
        "0xFF byte": b"\xff",
        "0xFE byte": b"\xfe",
        "overlong 2-byte '/'": b"\xc0\xaf",
        "overlong 2-byte C1": b"\xc1\xbf",
        "overlong 3-byte": b"\xe0\x80\xaf",
        "overlong 3-byte U+07FF": b"\xe0\x9f\xbf",
        "overlong 4-byte": b"\xf0\x80\x80\xaf",
        "overlong 4-byte U+FFFF": b"\xf0\x8f\xbf\xbf",
        "surrogate U+D800": b"\xed\xa0\x80",
        "surrogate U+DFFF": b"\xed\xbf\xbf",
        "surrogate pair as CESU-8": b"\xed\xa0\xbd\xed\xb8\x80",
        "U+110000": b"\xf4\x90\x80\x80",
        "0xF5 lead": b"\xf5\x80\x80\x80",
        "5-byte sequence": b"\xf8\x88\x80\x80\x80",
        "truncated 3-byte": b"\xe2\x82",
        "truncated 4-byte": b"\xf0\x9f\x98",
        "lead without continuation": b"\xc3A",
    }

    def test_invalid_utf8_in_one_frame(self):
        self.assert_fail_cases([
            (f"{name} {bad!r}", lambda c, bad=bad: c.send_frame(OP_TEXT, PREFIX + bad + SUFFIX), 1007)
            for name, bad in self.INVALID.items()])

    def test_invalid_utf8_truncated_at_end_of_message(self):
        c = self.connect()
        c.send_frame(OP_TEXT, PREFIX + b'x"}' + b"\xe2\x82")
        self.assert_fails(c, 1007, what="message ending inside a 3-byte sequence")

    def test_invalid_utf8_split_across_fragments(self):
        splits = {
            "3-byte lead then ASCII": (PREFIX + b"\xe2\x82", b"(" + SUFFIX),
            "4-byte sequence cut short": (PREFIX + b"\xf0\x9f", b"\x98" + SUFFIX),
            "surrogate split": (PREFIX + b"\xed", b"\xa0\x80" + SUFFIX),
            "overlong split": (PREFIX + b"\xe0", b"\x80\xaf" + SUFFIX),
            "U+110000 split": (PREFIX + b"\xf4\x90", b"\x80\x80" + SUFFIX),
        }

        def two(a, b):
            def send(c):
                c.send_frame(OP_TEXT, a, fin=False)
                c.send_frame(OP_CONT, b, fin=True)
            return send

        def three(c):
            c.send_frame(OP_TEXT, PREFIX, fin=False)
            c.send_frame(OP_CONT, "é".encode(), fin=False)
            c.send_frame(OP_CONT, b"\xff" + SUFFIX, fin=True)

        cases = [(f"fragmented: {name}", two(a, b), 1007) for name, (a, b) in splits.items()]
        cases.append(("invalid byte in the 3rd of 3 fragments", three, 1007))
        self.assert_fail_cases(cases)

    def test_valid_multibyte_utf8_split_across_fragments(self):
        c = self.connect()
        text = "aé€😀日本z\u07ff\u0800\uffff\U00010000\U0010ffff"
        data = PREFIX + text.encode("utf-8") + SUFFIX
        start = len(PREFIX)
        # every cut point inside the text, as 2 fragments, on one connection
        for cut in range(start + 1, start + len(text.encode("utf-8"))):
            c.send_frame(OP_TEXT, data[:cut], fin=False)
            c.send_frame(OP_CONT, data[cut:], fin=True)
            self.assert_echo(c, text)
        # and one byte per fragment
        c.send_frame(OP_TEXT, data[:1], fin=False)
        for i in range(1, len(data) - 1):
            c.send_frame(OP_CONT, data[i:i + 1], fin=False)
        c.send_frame(OP_CONT, data[-1:], fin=True)
        self.assert_echo(c, text)

    def test_valid_boundary_code_points(self):
        c = self.connect()
        for cp in (0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF):
            with self.subTest(code_point=hex(cp)):
                c.send_frame(OP_TEXT, PREFIX + chr(cp).encode("utf-8") + SUFFIX)
                self.assert_echo(c, chr(cp))


class CloseHandshake(ServerCase):
    CONFIG = BIG

    def test_close_1000_answered_with_1000_and_tcp_closed(self):
        c = self.connect()
        c.send_close(1000, "bye")
        code, reason, before = c.expect_close(timeout=3, reply=False)
        self.assertEqual(code, 1000, f"reason {reason!r}, frames before {before!r}")
        self.assertEqual(before, [])
        took = c.wait_closed(timeout=1.5)   # the server closes TCP first (RFC 6455 7.1.1)
        self.assertLess(took, 1.5)

    def test_close_with_empty_payload(self):
        c = self.connect()
        c.send_frame(OP_CLOSE, b"")
        code, reason, _ = c.expect_close(timeout=3, reply=False)
        self.assertIn(code, (None, 1000), f"answer to an empty close: {code} {reason!r}")
        c.wait_closed(timeout=1.5)

    def test_close_with_valid_codes(self):
        pending = []
        for code in (1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999):
            with self.subTest(code=code):
                c = self.connect()
                c.send_close(code, "ok")
                got, reason, _ = c.expect_close(timeout=3, reply=False)
                self.assertIn(got, (code, 1000), f"client close {code} answered with {got} {reason!r}")
                pending.append((code, c, time.monotonic()))
        for code, c, t0 in pending:
            with self.subTest(code=code, check="server closes TCP"):
                c.wait_closed(timeout=max(0.05, t0 + 1.5 - time.monotonic()))
            c.abort()

    def test_close_with_one_byte_payload(self):
        c = self.connect()
        c.send_frame(OP_CLOSE, b"\x03")
        self.assert_fails(c, 1002, what="close with 1-byte payload")

    def test_close_with_invalid_codes(self):
        self.assert_fail_cases([(f"client close code {code}", lambda c, code=code: c.send_close(code), 1002)
                                for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                                             5000, 65535)])

    def test_close_with_invalid_utf8_reason(self):
        self.assert_fail_cases([
            (f"close reason {bad!r}",
             lambda c, bad=bad: c.send_frame(OP_CLOSE, struct.pack("!H", 1000) + bad), 1007)
            for bad in (b"\xff", b"ok\xed\xa0\x80", b"\xc0\xaf", b"cut\xe2\x82")])

    def test_server_close_answered_by_the_client_ends_tcp_promptly(self):
        # After a server-initiated close on an in-sync stream (a complete frame with invalid
        # UTF-8), the client answers with its close frame: the handshake is then complete and
        # the server must close TCP at once (RFC 6455 5.5.1, 7.1.1), not wait out its bound.
        c = self.connect()
        c.send_frame(OP_TEXT, PREFIX + b"\xff" + SUFFIX)
        code, _, _ = c.expect_close(timeout=3, reply=True)
        self.assertEqual(code, 1007)
        took = c.wait_closed(timeout=3.0)
        self.assertLess(took, 1.0, f"server kept TCP open {took:.2f}s after the close handshake completed")

    def test_close_with_valid_utf8_reason(self):
        c = self.connect()
        c.send_close(1000, "tschüß 😀 " + "r" * 100)   # 121 bytes total payload
        code, _, _ = c.expect_close(timeout=3, reply=False)
        self.assertEqual(code, 1000)
        c.wait_closed(timeout=1.5)

    def test_messages_after_client_close_are_not_processed(self):
        c = self.connect()
        c.send_raw(build_frame(OP_CLOSE, close_payload(1000))
                   + build_frame(OP_TEXT, echo_text("after close").encode()))
        code, _, before = c.expect_close(timeout=3, reply=False)
        self.assertEqual(code, 1000)
        self.assertEqual(before, [], "a message after the client's close frame was processed")
        c.wait_closed(timeout=1.5)


class MessageSize(ServerCase):
    CONFIG = SMALL   # max_message_size: 2KiB = 2048 bytes

    def test_message_of_exactly_the_limit_is_accepted(self):
        c = self.connect()
        c.send_frame(OP_TEXT, echo_of_size(2048))
        self.assert_echo(c, "a" * (2048 - 29))
        c.send_fragmented(echo_of_size(2048), 4)
        self.assert_echo(c, "a" * (2048 - 29))

    def test_one_frame_over_the_limit(self):
        self.assert_fail_cases([(f"{n}-byte frame with a 2 KiB limit",
                                 lambda c, n=n: c.send_frame(OP_TEXT, echo_of_size(n)), 1009)
                                for n in (2049, 3000)])

    def test_fragments_whose_sum_exceeds_the_limit(self):
        c = self.connect()
        data = echo_of_size(2600)
        c.send_fragmented(data, [520] * 5)   # each fragment well under the limit
        self.assert_fails(c, 1009, what="5 x 520-byte fragments with a 2 KiB limit")

    def test_huge_announced_length_closes_without_waiting_for_the_bytes(self):
        def case(op, first):
            def send(c):
                if first is not None:
                    c.send_frame(OP_TEXT, PREFIX + first, fin=False)
                # header only: 2^40 bytes announced, a mask key, and 10 bytes of the payload
                c.send_raw(bytes([0x80 | op, 0xFF]) + struct.pack("!Q", 1 << 40) + os.urandom(4)
                           + b"x" * 10)
            return (f"2^40 bytes announced, opcode {op}, after a fragment: {first is not None}", send, 1009)
        self.assert_fail_cases([case(OP_TEXT, None), case(OP_BINARY, None),
                                case(OP_CONT, b"first fragment")], close_timeout=2.0)

    def test_announced_length_just_over_the_limit(self):
        c = self.connect()
        c.send_raw(bytes([0x81, 0xFE]) + struct.pack("!H", 2049) + os.urandom(4))
        self.assert_fails(c, 1009, close_timeout=2.0, what="2049 announced, nothing sent")


if __name__ == "__main__":
    unittest.main()
