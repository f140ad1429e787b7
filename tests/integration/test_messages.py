"""SPEC sections 4, 4.1, 4.2: the message envelope and its errors, acks and refs, every built-in
action, rate_limit and secure modifiers, the error budget and per-sender ordering."""

import asyncio
import json
import time
import unittest

from dispatch_harness import (
    DispatchTestCase, check_error, compact, expect_close, expect_error, expect_quiet,
    free_config, make_token, now, open_client, recv_json, request, run_dispatch, send_json,
)

EVENT_SECRET = "event-secret-abcdef-987654"

EVENTS = """
echo:
  actions:
    - name: _reply
      params: ["echoed", '{.payload}']
typed:
  actions:
    - name: _reply
      params: ["typed", '{"whole": {.payload.v}, "text": "{.payload.v}"}']
whoami:
  actions:
    - name: _reply
      params: ["me", '{"user": "{$user.id}", "conn": "{$conn.id}", "event": "{$event.name}", "target": "{$target.id}"}']
claim:
  actions:
    - name: _reply
      params: ["claim", '{"role": "{$token.role}"}']
logit:
  actions:
    - name: _log
      params: ["custom log line {$user.id} {.payload.x}"]
join:
  actions:
    - name: _join
      params: ["{$user.id}", "{$target.id}"]
join_conn:
  actions:
    - name: _join
      params: ["{$user.id}", "{$target.id}", "connection"]
invite:
  actions:
    - name: _join
      params: ["{.payload.user}", "{$target.id}"]
leave:
  actions:
    - name: _leave
      params: ["{$user.id}", "{$target.id}"]
join_named:
  actions:
    - name: _join
      params: ["{$user.id}", "{.payload.room}"]
leave_named:
  actions:
    - name: _leave
      params: ["{$user.id}", "{.payload.room}"]
say:
  actions:
    - name: _notify_room
      params: ["said", '{.payload}']
origin:
  actions:
    - name: _notify_origin
      params: ["origin_msg", '{.payload}']
dm:
  actions:
    - name: _notify_user
      params: ["{.payload.to}", "dm", '{"text": "{.payload.text}"}']
announce:
  actions:
    - name: _broadcast
      params: ["announced", '{.payload}']
join_and_say:
  actions:
    - name: _join
      params: ["{$user.id}", "{$target.id}"]
    - name: _notify_room
      params: ["hello_room", '{"who": "{$user.id}"}']
need_field:
  actions:
    - name: _reply
      params: ["step1", '{}']
    - name: _reply
      params: ["step2", '{"v": "{.payload.a.b}"}']
    - name: _reply
      params: ["step3", '{}']
limited:
  modifiers:
    - name: rate_limit
      params: ["3/s"]
  actions:
    - name: _reply
      params: ["ok", '{}']
limited_user:
  modifiers:
    - name: rate_limit
      params: ["3/s", "user"]
  actions:
    - name: _reply
      params: ["ok", '{}']
limited_conn:
  modifiers:
    - name: rate_limit
      params: ["3/s", "conn"]
  actions:
    - name: _reply
      params: ["ok", '{}']
limited_event:
  modifiers:
    - name: rate_limit
      params: ["3/s", "event"]
  actions:
    - name: _reply
      params: ["ok", '{}']
stacked:
  modifiers:
    - name: rate_limit
      params: ["2/s"]
    - name: rate_limit
      params: ["3/m"]
  actions:
    - name: _reply
      params: ["ok", '{}']
secured:
  modifiers:
    - name: secure
      params: []
  actions:
    - name: _reply
      params: ["secured_ok", '{.payload}']
secured_claim:
  modifiers:
    - name: secure
      params: ["role=admin"]
  actions:
    - name: _reply
      params: ["secured_ok", '{.payload}']
delete_message:
  modifiers:
    - name: secure
      params: ["msg={.payload.msg_id}", once]
  actions:
    - name: _reply
      params: ["deleted", '{"msg": "{.payload.msg_id}"}']
"""

_counter = [0]


def uniq(prefix):
    _counter[0] += 1
    return f"{prefix}-{_counter[0]}-{int(time.time() * 1000) % 100000}"


def msg(event, target=None, payload=None, id=None):
    m = {"event": event}
    if target is not None:
        m["target"] = target
    if payload is not None:
        m["payload"] = payload
    if id is not None:
        m["id"] = id
    return m


class Messages(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(free_config(
            EVENTS, server={"error_budget": "1000/10s"},
            auth={"event_jwt": {"secret": EVENT_SECRET}}))

    async def client(self, sub):
        return await open_client(self.server, sub)

    async def ack(self, ws, m):
        """Send m (with an id) and return the frames before its ack; fail on an error."""
        frames = await request(ws, m)
        last = frames[-1]
        self.assertEqual(last["event"], "ack", frames)
        self.assertEqual(compact(last), compact({"event": "ack", "payload": {"ref": m["id"]}}))
        return frames[:-1]

    # -- envelope errors -----------------------------------------------------------------------
    def test_bad_json(self):
        async def go():
            ws = await self.client(uniq("u"))
            for text in ['{not json', '{"event": "echo"', '', 'nul', '{"event":"echo",}']:
                await ws.send(text)
                check_error(await recv_json(ws), "bad_json", ref=None, event=None)
            await self.ack(ws, msg("echo", payload=1, id=1))
        self.arun(go())

    def test_bad_message_shapes(self):
        async def go():
            ws = await self.client(uniq("u"))
            cases = [
                "[1, 2]", '"just a string"', "42", "null", "true",
                '{"payload": {}}',                                   # no event
                '{"event": 5}', '{"event": null}', '{"event": ["echo"]}',
                '{"event": "say", "target": 5, "payload": {}}',      # target not a string
                '{"event": "say", "target": null, "payload": {}}',
                '{"event": "say", "payload": {}}',                   # missing target
                '{"event": "echo", "payload": 1, "id": [1]}',        # id of wrong type
                '{"event": "echo", "payload": 1, "id": {"a": 1}}',
                '{"event": "echo", "payload": 1, "id": true}',
                '{"event": "echo", "event": "echo", "payload": 1}',  # duplicate top-level key
                '{"event": "echo", "payload": 1, "payload": 2}',
                '{"event": "echo", "payload": 1, "id": 1, "id": 2}',
            ]
            for text in cases:
                await ws.send(text)
                frame = await recv_json(ws)
                try:
                    check_error(frame, "bad_message")
                except AssertionError as e:
                    raise AssertionError(f"input {text!r}: {e}") from None
            await self.ack(ws, msg("echo", payload=1, id=2))
        self.arun(go())

    def test_bad_message_keeps_event_and_ref(self):
        async def go():
            ws = await self.client(uniq("u"))
            await send_json(ws, {"event": "say", "payload": {}, "id": "m1"})   # missing target
            check_error(await recv_json(ws), "bad_message", ref="m1", event="say")
        self.arun(go())

    def test_target_length_in_bytes(self):
        async def go():
            ws = await self.client(uniq("u"))
            await self.ack(ws, msg("say", "r" * 256, {}, id=1))
            await send_json(ws, msg("say", "r" * 257, {}, id=2))
            check_error(await recv_json(ws), "bad_message", ref=2)
            await self.ack(ws, msg("say", "\u00e9" * 128, {}, id=3))           # 256 bytes
            await send_json(ws, msg("say", "\u00e9" * 129, {}, id=4))          # 258 bytes, 129 chars
            check_error(await recv_json(ws), "bad_message", ref=4)
        self.arun(go())

    def test_empty_target_is_bad_message_when_the_event_needs_one(self):
        async def go():
            ws = await self.client(uniq("u"))
            await send_json(ws, msg("whoami", "", {}, id=1))
            error = check_error(await recv_json(ws), "bad_message", ref=1, event="whoami")
            self.assertIn("`target` must not be empty", error["message"])
            self.assertEqual((await self.ack(ws, msg("whoami", "r", {}, id=2)))[0]["payload"]["target"], "r")
            await self.ack(ws, msg("echo", "", 1, id=3))      # an event that reads no target
        self.arun(go())

    def test_room_ids_from_the_payload_are_capped_at_256_bytes(self):
        async def go():
            ws = await self.client(uniq("u"))
            await self.ack(ws, msg("join_named", payload={"room": "r" * 256}, id=1))
            await self.ack(ws, msg("leave_named", payload={"room": "r" * 256}, id=2))
            for ident, (event, room) in enumerate([("join_named", "r" * 257), ("join_named", "x" * 10240),
                                                   ("leave_named", "\u00e9" * 129)], start=3):
                await send_json(ws, msg(event, payload={"room": room}, id=ident))
                error = check_error(await recv_json(ws), "bad_message", ref=ident, event=event)
                self.assertIn("room ids are at most 256 bytes", error["message"])
            await self.ack(ws, msg("echo", payload=1, id=9))
        self.arun(go())

    def test_duplicate_keys_at_any_depth_are_bad_message(self):
        async def go():
            ws = await self.client(uniq("u"))
            for ident, text in enumerate([
                '{"event":"echo","payload":{"a":1,"a":2},"id":%d}',
                '{"event":"echo","payload":{"x":[{"b":{"c":1,"c":1}}]},"id":%d}',
                '{"event":"echo","payload":{"k":1,"\\u006b":2},"id":%d}',
            ], start=1):
                await ws.send(text % ident)
                error = check_error(await recv_json(ws), "bad_message", ref=ident, event="echo")
                self.assertIn("appears twice in `payload", error["message"])
            echoed = await self.ack(ws, msg("echo", payload={"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}, id=9))
            self.assertEqual(echoed[0]["payload"], {"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]})
        self.arun(go())

    def test_numbers_out_of_range_and_deep_nesting_say_what_is_wrong(self):
        async def go():
            ws = await self.client(uniq("u"))
            cases = [
                ('{"event":"echo","payload":18446744073709551616,"id":1}', "out of range"),
                ('{"event":"echo","payload":1e999,"id":2}', "out of range"),
                ('{"event":"echo","payload":' + "[" * 2000 + "]" * 2000 + ',"id":3}', "nested too deeply"),
            ]
            for text, what in cases:
                await ws.send(text)
                error = check_error(await recv_json(ws), "bad_json")
                self.assertIn(what, error["message"])
            await self.ack(ws, msg("echo", payload=18446744073709551615, id=4))
        self.arun(go())

    def test_unknown_event(self):
        async def go():
            ws = await self.client(uniq("u"))
            await send_json(ws, msg("no_such_event", id=3))
            check_error(await recv_json(ws), "unknown_event", ref=3, event="no_such_event")
            await send_json(ws, msg("ECHO", payload=1))   # names are case-sensitive
            check_error(await recv_json(ws), "unknown_event", ref=None, event="ECHO")
            await send_json(ws, msg("welcome"))           # server frame names are not events
            check_error(await recv_json(ws), "unknown_event", event="welcome")
            await expect_quiet(ws)
        self.arun(go())

    # -- ack and ref ---------------------------------------------------------------------------
    def test_ref_echoes_string_and_number_ids(self):
        async def go():
            ws = await self.client(uniq("u"))
            for ident in ["abc", 7, 0, -3, 1.5, 12345678901234, ""]:
                frames = await self.ack(ws, msg("echo", payload={"i": 1}, id=ident))
                self.assertEqual(len(frames), 1, frames)
                reply = frames[0]
                self.assertEqual(list(reply.keys())[:2], ["event", "payload"], reply)
                self.assertEqual(reply["payload"], {"i": 1})
                self.assertIn("ref", reply, "a _reply to a message with an id carries ref")
                self.assertEqual(reply["ref"], ident)
                self.assertEqual(type(reply["ref"]), type(ident))
                await expect_quiet(ws)   # exactly one ack
        self.arun(go())

    def test_no_id_no_ack_and_no_ref(self):
        async def go():
            ws = await self.client(uniq("u"))
            await send_json(ws, msg("echo", payload={"x": 1}))
            reply = await recv_json(ws)
            self.assertEqual(compact(reply), compact({"event": "echoed", "payload": {"x": 1}}))
            await expect_quiet(ws)
        self.arun(go())

    def test_error_has_no_ack(self):
        async def go():
            ws = await self.client(uniq("u"))
            await send_json(ws, msg("nope", id=9))
            check_error(await recv_json(ws), "unknown_event", ref=9)
            await expect_quiet(ws)
        self.arun(go())

    def test_binary_frames(self):
        async def go():
            ws = await self.client(uniq("u"))
            await ws.send(json.dumps(msg("echo", payload={"b": "\u00e9"}, id=1)).encode())
            reply = await recv_json(ws)           # recv_json insists on a text frame
            self.assertEqual(reply["payload"], {"b": "\u00e9"})
            self.assertEqual(await recv_json(ws), {"event": "ack", "payload": {"ref": 1}})
            await ws.send(b'{"event": "echo", "payload": "\xff\xfe", "id": 2}')
            frame = await recv_json(ws)
            self.assertEqual(frame["event"], "error", frame)
            self.assertIn(frame["payload"]["code"], ("bad_json", "bad_message"), frame)
            await self.ack(ws, msg("echo", payload=1, id=3))   # still open
        self.arun(go())

    # -- templates (integration view) ------------------------------------------------------------
    def test_template_context_values(self):
        async def go():
            user = uniq("who")
            ws = await self.client(user)
            frames = await self.ack(ws, msg("whoami", "room:x", {}, id=1))
            self.assertEqual(frames[0]["payload"], {"user": user, "conn": ws.conn_id,
                                                    "event": "whoami", "target": "room:x"})
        self.arun(go())

    def test_whole_value_keeps_type_string_value_escaped(self):
        async def go():
            ws = await self.client(uniq("u"))
            cases = [(5, "5"), (True, "true"), ("a\"b", "a\"b"), ({"k": [1, 2]}, '{"k":[1,2]}'),
                     ([1, "x"], '[1,"x"]'), (-2.5, "-2.5")]
            for i, (value, text) in enumerate(cases):
                frames = await self.ack(ws, msg("typed", payload={"v": value}, id=i))
                self.assertEqual(frames[0]["payload"], {"whole": value, "text": text}, frames)
        self.arun(go())

    def test_missing_field_after_earlier_steps(self):
        async def go():
            ws = await self.client(uniq("u"))
            await send_json(ws, msg("need_field", payload={"a": {}}, id="nf"))
            self.assertEqual((await recv_json(ws))["event"], "step1")
            p = await expect_error(ws, "missing_field", ref="nf", event="need_field")
            self.assertIsInstance(p.get("field"), str, p)
            self.assertTrue(p["field"].endswith("a.b"), p)
            await expect_quiet(ws)   # step3 did not run, no ack
            # With the field present every step runs.
            frames = await self.ack(ws, msg("need_field", payload={"a": {"b": "x"}}, id=2))
            self.assertEqual([f["event"] for f in frames], ["step1", "step2", "step3"])
            self.assertEqual(frames[1]["payload"], {"v": "x"})
        self.arun(go())

    def test_missing_token_claim(self):
        async def go():
            ws = await open_client(self.server, token=make_token(uniq("c"), role="admin"))
            frames = await self.ack(ws, msg("claim", id=1))
            self.assertEqual(frames[0]["payload"], {"role": "admin"})
            ws2 = await self.client(uniq("c"))
            await send_json(ws2, msg("claim", id=2))
            p = await expect_error(ws2, "missing_field", ref=2, event="claim")
            self.assertIn("role", p.get("field", ""), p)
        self.arun(go())

    # -- actions -------------------------------------------------------------------------------
    def test_log_action(self):
        async def go():
            user = uniq("logger")
            ws = await self.client(user)
            mark = self.server.log_mark()
            await self.ack(ws, msg("logit", payload={"x": 42}, id=1))
            line = f"custom log line {user} 42"
            entry = self.server.wait_for_log(
                lambda l: any(isinstance(v, str) and line in v for v in l.values()), 3, since=mark)
            self.assertEqual(entry.get("level"), "info", entry)
        self.arun(go())

    def test_join_user_scope_notify_room(self):
        async def go():
            room = uniq("room")
            alice, bob = uniq("alice"), uniq("bob")
            a1, a2, b = await self.client(alice), await self.client(alice), await self.client(bob)
            await self.ack(a1, msg("join", room, id=1))        # both alice connections join
            await self.ack(b, msg("join", room, id=1))
            await self.ack(b, msg("say", room, {"t": "hi"}, id=2))
            # (bob's own copy came before his ack: checked by request())
            want = compact({"event": "said", "payload": {"t": "hi"}, "room": room, "from": bob})
            for ws in (a1, a2):
                self.assertEqual(compact(await recv_json(ws)), want)
            # A connection opened after the join is not a member ("every live connection").
            a3 = await self.client(alice)
            await send_json(b, msg("say", room, {"t": "2"}))
            self.assertEqual((await recv_json(b))["payload"], {"t": "2"})
            for ws in (a1, a2):
                self.assertEqual((await recv_json(ws))["payload"], {"t": "2"})
            await expect_quiet(a3)
        self.arun(go())

    def test_sender_copy_before_ack_only_if_member(self):
        async def go():
            room = uniq("room")
            m, outsider = await self.client(uniq("m")), await self.client(uniq("o"))
            await self.ack(m, msg("join", room, id=1))
            frames = await self.ack(m, msg("say", room, {"n": 1}, id=2))
            self.assertEqual([f["event"] for f in frames], ["said"], frames)
            frames = await self.ack(outsider, msg("say", room, {"n": 2}, id=3))
            self.assertEqual(frames, [], "a non-member does not get its own room message")
            got = await recv_json(m)
            self.assertEqual((got["payload"], got["from"]), ({"n": 2}, outsider.welcome["payload"]["user_id"]))
        self.arun(go())

    def test_join_connection_scope(self):
        async def go():
            room = uniq("room")
            alice, bob = uniq("alice"), uniq("bob")
            a1, a2, b = await self.client(alice), await self.client(alice), await self.client(bob)
            await self.ack(a1, msg("join_conn", room, id=1))
            await self.ack(b, msg("say", room, {"t": 1}, id=1))
            self.assertEqual((await recv_json(a1))["payload"], {"t": 1})
            await expect_quiet(a2)
        self.arun(go())

    def test_join_other_user(self):
        async def go():
            room = uniq("room")
            host, guest = uniq("host"), uniq("guest")
            h, g1, g2 = await self.client(host), await self.client(guest), await self.client(guest)
            await self.ack(h, msg("invite", room, {"user": guest}, id=1))
            await self.ack(h, msg("say", room, {"t": "welcome"}, id=2))
            for ws in (g1, g2):
                got = await recv_json(ws)
                self.assertEqual((got["event"], got["room"], got["from"]), ("said", room, host))
            await expect_quiet(h)   # the host did not join
        self.arun(go())

    def test_leave_and_empty_room(self):
        async def go():
            room = uniq("room")
            alice, bob, carol = uniq("alice"), uniq("bob"), uniq("carol")
            a1, a2 = await self.client(alice), await self.client(alice)
            b, c = await self.client(bob), await self.client(carol)
            await self.ack(a1, msg("join", room, id=1))
            await self.ack(b, msg("join", room, id=1))
            await self.ack(a2, msg("leave", room, id=2))       # all of alice's connections leave
            frames = await self.ack(b, msg("say", room, {"t": 1}, id=2))
            self.assertEqual(len(frames), 1)
            await expect_quiet(a1)
            await expect_quiet(a2)
            await self.ack(b, msg("leave", room, id=3))        # room now empty
            frames = await self.ack(c, msg("say", room, {"t": 2}, id=1))
            self.assertEqual(frames, [])
            for ws in (a1, a2, b):
                await expect_quiet(ws)
            # Leaving a room one is not in is not an error.
            await self.ack(c, msg("leave", room, id=2))
        self.arun(go())

    def test_join_then_notify_in_same_event(self):
        async def go():
            room = uniq("room")
            alice, bob = uniq("alice"), uniq("bob")
            b = await self.client(bob)
            await self.ack(b, msg("join", room, id=1))
            a1, a2 = await self.client(alice), await self.client(alice)
            frames = await self.ack(a1, msg("join_and_say", room, id=1))
            want = compact({"event": "hello_room", "payload": {"who": alice}, "room": room, "from": alice})
            self.assertEqual([compact(f) for f in frames], [want])
            self.assertEqual(compact(await recv_json(a2)), want)
            self.assertEqual(compact(await recv_json(b)), want)
        self.arun(go())

    def test_notify_origin(self):
        async def go():
            alice = uniq("alice")
            a1, a2, b = await self.client(alice), await self.client(alice), await self.client(uniq("bob"))
            frames = await self.ack(a1, msg("origin", payload={"o": 1}, id=1))
            want = compact({"event": "origin_msg", "payload": {"o": 1}})
            self.assertEqual([compact(f) for f in frames], [want])
            self.assertEqual(compact(await recv_json(a2)), want)
            await expect_quiet(b)
        self.arun(go())

    def test_reply_only_sender_connection(self):
        async def go():
            alice = uniq("alice")
            a1, a2 = await self.client(alice), await self.client(alice)
            await send_json(a1, msg("echo", payload="x"))
            self.assertEqual(compact(await recv_json(a1)), compact({"event": "echoed", "payload": "x"}))
            await expect_quiet(a2)
        self.arun(go())

    def test_notify_room_to_user_target(self):
        async def go():
            alice, bob, carol = uniq("alice"), uniq("bob"), uniq("carol")
            a1, a2 = await self.client(alice), await self.client(alice)
            b, c = await self.client(bob), await self.client(carol)
            frames = await self.ack(b, msg("say", f"user:{alice}", {"p": 1}, id=1))
            self.assertEqual(frames, [], "the sender gets no copy of a message to another user")
            want = compact({"event": "said", "payload": {"p": 1}, "from": bob})
            for ws in (a1, a2):
                self.assertEqual(compact(await recv_json(ws)), want)
            await expect_quiet(c)
        self.arun(go())

    def test_notify_user(self):
        async def go():
            alice, bob = uniq("alice"), uniq("bob")
            a1, a2, b = await self.client(alice), await self.client(alice), await self.client(bob)
            frames = await self.ack(b, msg("dm", payload={"to": alice, "text": 'hi "a"'}, id=1))
            self.assertEqual(frames, [])
            want = compact({"event": "dm", "payload": {"text": 'hi "a"'}, "from": bob})
            for ws in (a1, a2):
                self.assertEqual(compact(await recv_json(ws)), want)
            # Unknown/offline user: nothing delivered, still acked.
            await self.ack(b, msg("dm", payload={"to": uniq("nobody"), "text": "x"}, id=2))
        self.arun(go())

    def test_broadcast(self):
        async def go():
            carol = uniq("carol")
            others = [await self.client(uniq("u")) for _ in range(3)]
            c = await self.client(carol)
            frames = await self.ack(c, msg("announce", "*", {"b": 1}, id=1))
            want = compact({"event": "announced", "payload": {"b": 1}, "from": carol})
            self.assertEqual([compact(f) for f in frames], [want])
            for ws in others:
                self.assertEqual(compact(await recv_json(ws)), want)
        self.arun(go())

    def test_star_target_is_just_a_room(self):
        async def go():
            a, b = await self.client(uniq("a")), await self.client(uniq("b"))
            frames = await self.ack(a, msg("say", "*", {"s": 1}, id=1))
            self.assertEqual(frames, [])
            await expect_quiet(b)
        self.arun(go())

    # -- rate_limit ----------------------------------------------------------------------------
    async def _burst(self, ws, event, n, start_id=0):
        results = []
        for i in range(n):
            frames = await request(ws, msg(event, id=start_id + i))
            results.append(frames[-1])
        return results

    def _rate_limited(self, frame, event):
        p = check_error(frame, "rate_limited", event=event)
        self.assertIsInstance(p.get("retry_after_ms"), int, p)
        self.assertNotIsInstance(p["retry_after_ms"], bool)
        self.assertGreater(p["retry_after_ms"], 0, p)
        return p["retry_after_ms"]

    def test_rate_limit_default_key_user_event(self):
        async def go():
            user = uniq("rl")
            a1, a2, other = await self.client(user), await self.client(user), await self.client(uniq("rl"))
            res = await self._burst(a1, "limited", 3)
            self.assertEqual([f["event"] for f in res], ["ack"] * 3, res)
            res = await self._burst(a2, "limited", 1, 10)          # same user, other connection
            retry = self._rate_limited(res[0], "limited")
            self.assertLessEqual(retry, 2000)
            res = await self._burst(other, "limited", 3, 20)       # another user: own counter
            self.assertEqual([f["event"] for f in res], ["ack"] * 3, res)
            res = await self._burst(a1, "limited_user", 1, 30)     # another event: own counter
            self.assertEqual(res[0]["event"], "ack", res)
        self.arun(go())

    def test_rate_limit_retry_after_and_rejections_do_not_count(self):
        async def go():
            ws = await self.client(uniq("rl"))
            await self._burst(ws, "limited", 3)
            res = await self._burst(ws, "limited", 8, 100)         # all rejected, none counted
            retries = [self._rate_limited(f, "limited") for f in res]
            await asyncio.sleep(retries[-1] / 1000 + 0.15)
            res = await self._burst(ws, "limited", 1, 200)
            self.assertEqual(res[0]["event"], "ack", f"retry_after_ms={retries[-1]} was too early: {res}")
        self.arun(go(), timeout=15)

    def test_rate_limit_key_user(self):
        async def go():
            user = uniq("rlu")
            a1, a2, other = await self.client(user), await self.client(user), await self.client(uniq("rlu"))
            await self._burst(a1, "limited_user", 2)
            res = await self._burst(a2, "limited_user", 2, 10)
            self.assertEqual(res[0]["event"], "ack")
            self._rate_limited(res[1], "limited_user")
            res = await self._burst(other, "limited_user", 1, 20)
            self.assertEqual(res[0]["event"], "ack")
        self.arun(go())

    def test_rate_limit_key_conn(self):
        async def go():
            user = uniq("rlc")
            a1, a2 = await self.client(user), await self.client(user)
            res = await self._burst(a1, "limited_conn", 4)
            self.assertEqual([f["event"] for f in res[:3]], ["ack"] * 3)
            self._rate_limited(res[3], "limited_conn")
            res = await self._burst(a2, "limited_conn", 3, 10)      # same user, new connection
            self.assertEqual([f["event"] for f in res], ["ack"] * 3, res)
        self.arun(go())

    def test_rate_limit_key_event(self):
        async def go():
            a, b = await self.client(uniq("rle")), await self.client(uniq("rle"))
            res = await self._burst(a, "limited_event", 3)
            self.assertEqual([f["event"] for f in res], ["ack"] * 3)
            res = await self._burst(b, "limited_event", 1, 10)      # everyone shares the count
            self._rate_limited(res[0], "limited_event")
        self.arun(go())

    def test_rate_limit_stacked(self):
        async def go():
            ws = await self.client(uniq("stk"))
            res = await self._burst(ws, "stacked", 3)
            self.assertEqual([f["event"] for f in res[:2]], ["ack", "ack"], res)
            retry = self._rate_limited(res[2], "stacked")
            self.assertLessEqual(retry, 2000)                      # the 2/s limit
            await asyncio.sleep(2.2)                               # 2/s fully clear again
            res = await self._burst(ws, "stacked", 2, 10)
            self.assertEqual(res[0]["event"], "ack", res)          # 3rd in the minute
            retry = self._rate_limited(res[1], "stacked")          # 4th: the 3/m limit
            self.assertGreater(retry, 2500, "the 3/m limit must give a long retry_after_ms")
        self.arun(go(), timeout=15)

    # -- secure --------------------------------------------------------------------------------
    def test_secure(self):
        async def go():
            user = uniq("sec")
            ws = await self.client(user)
            good = make_token(user, secret=EVENT_SECRET, evt="secured", exp=now() + 60)
            frames = await self.ack(ws, msg("secured", payload={"token": good, "amount": 5}, id=1))
            self.assertEqual(frames[0]["payload"], {"amount": 5}, "payload.token must be hidden from templates")
            no_evt = make_token(user, secret=EVENT_SECRET)
            await self.ack(ws, msg("secured", payload={"token": no_evt}, id=2))
            bad = {
                "session secret": make_token(user, evt="secured"),
                "other sub": make_token(uniq("other"), secret=EVENT_SECRET, evt="secured"),
                "other event": make_token(user, secret=EVENT_SECRET, evt="echo"),
                "expired": make_token(user, secret=EVENT_SECRET, exp=now() - 3600),
                "alg none": make_token(user, secret=EVENT_SECRET, alg="none"),
                "garbage": "not.a.token",
            }
            for i, (why, token) in enumerate(bad.items()):
                await send_json(ws, msg("secured", payload={"token": token}, id=10 + i))
                try:
                    await expect_error(ws, "invalid_token", ref=10 + i, event="secured")
                except AssertionError as e:
                    raise AssertionError(f"{why}: {e}") from None
            await send_json(ws, msg("secured", payload={"amount": 1}, id=30))   # no token
            await expect_error(ws, "invalid_token", ref=30)
            await expect_quiet(ws)
        self.arun(go())

    def test_secure_claim_check(self):
        async def go():
            user = uniq("secc")
            ws = await self.client(user)
            ok = make_token(user, secret=EVENT_SECRET, role="admin")
            await self.ack(ws, msg("secured_claim", payload={"token": ok}, id=1))
            nope = make_token(user, secret=EVENT_SECRET, role="user")
            await send_json(ws, msg("secured_claim", payload={"token": nope}, id=2))
            frame = await recv_json(ws)
            self.assertEqual(frame["event"], "error", frame)
            self.assertIn(frame["payload"]["code"], ("invalid_token", "forbidden"), frame)
        self.arun(go())

    def test_secure_once_with_a_templated_claim_check(self):
        """An event token bound to one message (msg={.payload.msg_id}) deletes that message only,
        and only once (`once`: its jti is spent)."""
        async def go():
            user = uniq("del")
            ws = await self.client(user)
            # Minted the way docs/CONFIG.md says, with `dispatch token`.
            minted = run_dispatch(["token", "--secret", EVENT_SECRET, "--sub", user, "--ttl", "5m",
                                   "--claim", "evt=delete_message", "--claim", "msg=m-1",
                                   "--claim", "jti=" + uniq("jti")], timeout=10)
            self.assertEqual(minted.returncode, 0, minted.stderr)
            token = minted.stdout.strip()
            frames = await self.ack(ws, msg("delete_message", payload={"token": token, "msg_id": "m-1"}, id=1))
            self.assertEqual(frames[0]["payload"], {"msg": "m-1"})
            await send_json(ws, msg("delete_message", payload={"token": token, "msg_id": "m-1"}, id=2))
            p = await expect_error(ws, "invalid_token", ref=2, event="delete_message")
            self.assertIn("already used", p["message"])
            # Another message with a token for m-2 (a fresh jti): refused, the claim does not match.
            other = make_token(user, secret=EVENT_SECRET, evt="delete_message", msg="m-2",
                               jti=uniq("jti"), exp=now() + 60)
            await send_json(ws, msg("delete_message", payload={"token": other, "msg_id": "m-3"}, id=3))
            p = await expect_error(ws, "invalid_token", ref=3)
            self.assertIn("`msg`", p["message"])
            await self.ack(ws, msg("delete_message", payload={"token": other, "msg_id": "m-2"}, id=4))
            # Without a jti a single-use token cannot be told apart: refused.
            no_jti = make_token(user, secret=EVENT_SECRET, msg="m-5", exp=now() + 60)
            await send_json(ws, msg("delete_message", payload={"token": no_jti, "msg_id": "m-5"}, id=5))
            p = await expect_error(ws, "invalid_token", ref=5)
            self.assertIn("jti", p["message"])
            # The message id is missing: the template cannot be filled.
            await send_json(ws, msg("delete_message", payload={"token": other}, id=6))
            await expect_error(ws, "missing_field", ref=6)
            await expect_quiet(ws)
        self.arun(go())

    # -- ordering ------------------------------------------------------------------------------
    def test_order_per_sender_200_messages(self):
        async def go():
            room = uniq("ord")
            members = [await self.client(uniq("m")) for _ in range(4)]
            sender = await self.client(uniq("sender"))
            for i, m in enumerate(members):
                await self.ack(m, msg("join", room, id=i))
            for i in range(200):
                await sender.send(json.dumps(msg("say", room, {"n": i})))

            async def drain(ws):
                got = []
                while len(got) < 200:
                    f = await recv_json(ws, 10)
                    got.append(f["payload"]["n"])
                return got
            results = await asyncio.gather(*(drain(m) for m in members))
            for got in results:
                self.assertEqual(got, list(range(200)))
        self.arun(go(), timeout=40)

    def test_fanout_150_members(self):
        # Members spread over every event loop; one message and one broadcast reach each once.
        async def go():
            room = uniq("fan")
            members = await asyncio.gather(*(self.client(uniq("f")) for _ in range(150)))
            await asyncio.gather(*(self.ack(m, msg("join_conn", room, id=1)) for m in members))
            sender = await self.client(uniq("fsender"))
            await self.ack(sender, msg("say", room, {"k": "fan"}, id=1))
            await self.ack(sender, msg("announce", payload={"k": "all"}, id=2))

            async def check(ws):
                a, b = await recv_json(ws, 10), await recv_json(ws, 10)
                self.assertEqual((a["event"], a["payload"], a["room"]), ("said", {"k": "fan"}, room))
                self.assertEqual((b["event"], b["payload"]), ("announced", {"k": "all"}))
                await expect_quiet(ws)
            await asyncio.gather(*(check(m) for m in members))
        self.arun(go(), timeout=50)


class ErrorBudget(DispatchTestCase):
    def test_budget_exceeded_closes_1008_rate_limited_not_counted(self):
        server = self.start_server(free_config(
            EVENTS, server={"error_budget": "3/10s"}, auth={"event_jwt": {"secret": EVENT_SECRET}}))

        async def go():
            ws = await open_client(server, uniq("budget"))
            # rate_limited does not count: 3 accepted, then many rejections.
            for i in range(10):
                frames = await request(ws, msg("limited", id=i))
                if i >= 3:
                    check_error(frames[-1], "rate_limited")
            for _ in range(3):                       # three errors: within the budget
                await ws.send("{bad")
                check_error(await recv_json(ws), "bad_json")
            frames = await request(ws, msg("echo", payload=1, id="alive"))
            self.assertEqual(frames[-1]["event"], "ack", frames)
            await ws.send("{bad")                    # the fourth error
            code, reason, frames = await expect_close(ws, 5)
            self.assertEqual((code, reason), (1008, "too many errors"), frames)
        self.arun(go())


if __name__ == "__main__":
    unittest.main()
