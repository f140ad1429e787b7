"""What an operator reads at log level info (issue 10, part 5): one line when a connection opens
and one when it closes — client IP, user, connection id, who closed it, close code and reason,
duration, messages in and out — for every way a connection ends; a refused WebSocket handshake
says why, a 404 for a page is not a refused connection, and no token ever appears."""

import asyncio
import socket
import unittest

from dispatch_harness import (LOCALHOST, DispatchTestCase, free_config, make_token, open_client,
                              raw_upgrade, recv_json, request)

EVENTS = """
ping:
  actions:
    - name: _reply
      params: ["pong", '{"ok": true}']
"""


class ConnectionLogs(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(free_config(EVENTS, server={"error_budget": "1/10s"}))

    def closed_line(self, conn_id, mark):
        return self.server.wait_for_log(
            lambda l: l.get("msg") == "connection closed" and l.get("conn_id") == conn_id, 5,
            since=mark)

    def test_opened_and_closed_by_the_client_with_counts(self):
        mark = self.server.log_mark()
        token = make_token("alice-logs")

        async def go():
            ws = await open_client(self.server, token=token)
            for ref in (1, 2):
                await request(ws, {"event": "ping", "id": ref})
            await ws.close(code=1000, reason="bye")
            return ws.conn_id

        conn_id = self.arun(go())
        opened = self.server.wait_for_log(
            lambda l: l.get("msg") == "connection opened" and l.get("conn_id") == conn_id, 5,
            since=mark)
        self.assertEqual(opened["level"], "info")
        self.assertEqual(opened["user_id"], "alice-logs")
        self.assertEqual(opened["client_ip"], LOCALHOST)
        closed = self.closed_line(conn_id, mark)
        self.assertEqual(closed["level"], "info")
        self.assertEqual((closed["by"], closed["code"], closed["reason"]), ("client", 1000, "bye"))
        self.assertEqual((closed["user_id"], closed["client_ip"]), ("alice-logs", LOCALHOST))
        self.assertEqual(closed["messages_in"], 2)
        # The welcome frame, and for each ping its reply and its ack.
        self.assertEqual(closed["messages_out"], 5)
        self.assertGreaterEqual(closed["duration_ms"], 0)
        self.assertLess(closed["duration_ms"], 10_000)
        for line in self.server.logs()[mark:]:
            self.assertNotIn(token, str(line), "a token must never be logged")

    def test_closed_by_the_server_says_why(self):
        mark = self.server.log_mark()

        async def go():
            ws = await open_client(self.server, "bob-logs")
            # error_budget 1/10s: the second refused message closes with 1008 "too many errors".
            for _ in range(2):
                await ws.send('{"event": "nope"}')
            await recv_json(ws, 3)
            await asyncio.sleep(0.1)
            return ws.conn_id

        conn_id = self.arun(go())
        closed = self.closed_line(conn_id, mark)
        self.assertEqual((closed["by"], closed["code"], closed["reason"]),
                         ("server", 1008, "too many errors"))
        self.assertEqual(closed["messages_in"], 2)

    def test_a_client_that_vanishes_is_closed_by_the_network(self):
        mark = self.server.log_mark()

        async def go():
            ws = await open_client(self.server, "carol-logs")
            ws.transport.abort()  # no close frame: a reset
            return ws.conn_id

        conn_id = self.arun(go())
        closed = self.closed_line(conn_id, mark)
        self.assertEqual((closed["by"], closed["code"], closed["reason"]),
                         ("network", 1006, "connection lost"))

    def test_a_page_404_is_not_a_refused_connection_but_a_refused_upgrade_is(self):
        mark = self.server.log_mark()
        self.assertEqual(raw_upgrade(self.server.port, upgrade=False, path="/favicon.ico").status,
                         404)
        refused = raw_upgrade(self.server.port, token=None)
        self.assertEqual(refused.status, 401)
        line = self.server.wait_for_log(lambda l: l.get("msg") == "connection refused", 5,
                                        since=mark)
        self.assertEqual((line["status"], line["code"]), (401, "missing_token"))
        self.assertEqual(line["client_ip"], LOCALHOST)
        refusals = [l for l in self.server.logs()[mark:] if l.get("msg") == "connection refused"]
        self.assertEqual(len(refusals), 1, refusals)


if __name__ == "__main__":
    unittest.main()
