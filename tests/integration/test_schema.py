"""SPEC sections 2 and 4: an event's payload schema, over a real connection. A payload that
fails is answered with exactly `invalid_payload` (with `path` and `rule`), before any modifier:
nothing of the event runs, nobody else receives anything, and the connection stays open."""

import unittest

from dispatch_harness import (
    DispatchTestCase, check_error, compact, free_config, open_client, recv_json, request,
    send_json,
)

EVENTS = """
join:
  actions:
    - name: _join
      params: ["{$user.id}", "{$target.id}"]
send_message:
  schema:
    type: object
    required: [message]
    properties:
      message: { type: string, maxLength: 20 }
      "a/b~c": { type: integer, minimum: 0 }
      tags: { type: array, maxItems: 2, items: { enum: [red, blue] } }
  modifiers:
    - name: rate_limit
      params: ["1/h"]
  actions:
    - name: _notify_room
      params: ["new_message", '{"user": "{$user.id}", "message": "{.payload.message}"}']
"""


class PayloadSchema(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(free_config(EVENTS))

    def test_a_failing_payload_gets_invalid_payload_and_nothing_runs(self):
        async def go():
            alice = await open_client(self.server, "schema-alice")
            bob = await open_client(self.server, "schema-bob")
            for ws in (alice, bob):
                frames = await request(ws, {"event": "join", "target": "room:schema", "id": "j"})
                self.assertEqual(frames[-1]["event"], "ack", frames)

            cases = [
                ({"message": "x" * 21}, "/message", "maxLength",
                 "payload/message: expected at most 20 characters, got 21"),
                ({"text": "hi"}, "/message", "required",
                 "payload: the required property `message` is missing"),
                ({"message": "hi", "a/b~c": -1}, "/a~1b~0c", "minimum",
                 "payload/a~1b~0c: expected a number of at least 0, got -1"),
                ({"message": "hi", "tags": ["red", "green"]}, "/tags/1", "enum",
                 'payload/tags/1: expected one of "red", "blue"'),
                ("hi", "", "type", "payload: expected an object, got a string"),
                (None, "", "type", "payload: expected an object, got null"),
            ]
            for i, (payload, path, rule, message) in enumerate(cases):
                body = {"event": "send_message", "target": "room:schema", "id": i}
                if payload is not None:
                    body["payload"] = payload
                await send_json(alice, body)
                frame = await recv_json(alice)
                error = check_error(frame, "invalid_payload", ref=i, event="send_message")
                self.assertEqual(compact(frame), compact({"event": "error", "payload": {
                    "code": "invalid_payload", "message": message, "ref": i,
                    "event": "send_message", "path": path, "rule": rule}}))
                self.assertEqual(error["path"], path)

            # Unicode characters, not bytes: 20 two-byte characters pass maxLength 20.
            text = "\u00e9" * 20
            frames = await request(alice, {"event": "send_message", "target": "room:schema",
                                           "payload": {"message": text}, "id": "ok"})
            # The rate limit (1/h) was not spent by the refused payloads, and alice's own copy
            # comes before her ack.
            self.assertEqual([f["event"] for f in frames], ["new_message", "ack"], frames)
            # bob's first frame is the one valid message: the refused ones reached nobody.
            first = await recv_json(bob)
            self.assertEqual(first["event"], "new_message", first)
            self.assertEqual(first["payload"], {"user": "schema-alice", "message": text})
        self.arun(go())


if __name__ == "__main__":
    unittest.main()
