"""The example custom action (examples/custom_action): `shout` [event, text] completes later (after a
timer) and replies {"event": <event>, "payload": {"text": <TEXT>}} to the sender. A pending step
must not reorder anything: the steps after it, the ack and the next messages wait for it."""

import json
import unittest

from dispatch_harness import (
    OP_TEXT, DispatchTestCase, RawWebSocket, check_error, example_bin, free_config, make_token,
    open_client, recv_json, request, require_binary,
)

CONFIG_EVENTS = """
shout:
  actions:
    - name: shout
      params: ["shouted", "{.payload.text}"]
    - name: _reply
      params: ["after", '{"n": 1}']
quick:
  actions:
    - name: _reply
      params: ["quick_ok", '{}']
"""


class ExampleAction(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        binary = require_binary(example_bin())
        cls.server = cls.start_class_server(free_config(CONFIG_EVENTS, server={"error_budget": "100/10s"}),
                                            binary=binary)

    def test_async_step_then_next_step_then_ack(self):
        async def go():
            ws = await open_client(self.server, "shouter")
            frames = await request(ws, {"event": "shout", "payload": {"text": "hello"}, "id": 1}, timeout=5)
            self.assertEqual(len(frames), 3, frames)
            self.assertEqual((frames[0]["event"], frames[0]["payload"]), ("shouted", {"text": "HELLO"}))
            self.assertEqual(frames[1]["event"], "after")
            self.assertEqual(frames[1]["payload"], {"n": 1})
            self.assertEqual(frames[1].get("ref"), 1)
            self.assertEqual(frames[2], {"event": "ack", "payload": {"ref": 1}})
        self.arun(go())

    def test_back_to_back_messages_answered_in_order(self):
        async def go():
            ws = await open_client(self.server, "shouter2")
            for i in range(20):
                payload = {"text": f"m{i}"} if i != 10 else {}      # #10 fails before the action
                await ws.send(json.dumps({"event": "shout", "payload": payload, "id": i}))
            await ws.send(json.dumps({"event": "quick", "id": "q"}))
            seen = []
            for i in range(20):
                if i == 10:
                    check_error(await recv_json(ws, 5), "missing_field", ref=10, event="shout")
                    seen.append("error10")
                    continue
                a, b, c = [await recv_json(ws, 5) for _ in range(3)]
                self.assertEqual((a["event"], a["payload"]), ("shouted", {"text": f"M{i}"}), (i, a, b, c))
                self.assertEqual((b["event"], b.get("ref")), ("after", i), (i, a, b, c))
                self.assertEqual(c, {"event": "ack", "payload": {"ref": i}}, (i, a, b, c))
                seen.append(i)
            frames = [await recv_json(ws, 5), await recv_json(ws, 5)]
            self.assertEqual([f["event"] for f in frames], ["quick_ok", "ack"])
        self.arun(go())

    def test_other_connections_not_blocked(self):
        # `slow` has shouts pending and only the first half of its next message sent, until
        # `other` has been answered: a server that serves one connection at a time (waiting for
        # the rest of slow's message, or for its pending steps) never answers `other`.
        slow = RawWebSocket(self.server.port, make_token("shouter3"))
        self.addCleanup(slow.close)
        self.assertEqual(slow.recv_json()["event"], "welcome")
        for i in range(5):
            slow.send_json({"event": "shout", "payload": {"text": f"x{i}"}, "id": i})
        last = RawWebSocket.encode_frame(
            OP_TEXT, json.dumps({"event": "shout", "payload": {"text": "x5"}, "id": 5}).encode())
        slow.sock.sendall(last[:len(last) // 2])

        async def go():
            other = await open_client(self.server, "quick")
            frames = await request(other, {"event": "quick", "id": 1})
            self.assertEqual([f["event"] for f in frames], ["quick_ok", "ack"])
        self.arun(go())

        slow.sock.sendall(last[len(last) // 2:])
        for i in range(6):      # slow's messages, all answered in order
            shouted, after, ack = [slow.recv_json(5) for _ in range(3)]
            self.assertEqual((shouted["event"], shouted["payload"]), ("shouted", {"text": f"X{i}"}))
            self.assertEqual((after["event"], after.get("ref")), ("after", i))
            self.assertEqual(ack, {"event": "ack", "payload": {"ref": i}})


if __name__ == "__main__":
    unittest.main()
