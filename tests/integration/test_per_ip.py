"""Per client IP limits (issue 9): auth.max_connections_per_ip counts the upgraded connections
of each client address across every event loop, refuses one more with 429
too_many_connections_per_ip before the upgrade, and gives the place back when a connection
closes; auth.handshake_rate_per_ip bounds upgrade requests per address and window; rate_limit's
`ip` key counts messages per client address. Behind server.trusted_proxies, the forwarded
address is the client's."""

import unittest

from dispatch_harness import LOCALHOST, DispatchTestCase, free_config, open_client, request
from test_preauth import EVENTS, SECOND_IP, eventually, http_get, upgrade_from, upgraded_socket

UPGRADE_HEADERS = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                   ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                   ("Sec-WebSocket-Version", "13")]


class ConnectionsPerIp(DispatchTestCase):
    def test_one_address_holds_at_most_the_limit_across_loops_and_gets_places_back(self):
        server = self.start_server(free_config(EVENTS, server={"threads": 2},
                                               auth={"max_connections_per_ip": 2}))
        # Sockets go to the two loops in turn: the two open connections live on different loops.
        open_sockets = []
        try:
            for sub in ("first", "second"):
                sock, resp = upgraded_socket(server.port, sub, LOCALHOST)
                open_sockets.append(sock)
                self.assertEqual(resp.status, 101, resp)

            resp = upgrade_from(server.port, LOCALHOST, "third")
            self.assertEqual(resp.status, 429, resp)
            self.assertEqual(resp.json()["error"], "too_many_connections_per_ip", resp)
            self.assertIn("max_connections_per_ip", resp.json()["message"])
            # Refused again from either loop: the count is the process's, not a loop's.
            self.assertEqual(upgrade_from(server.port, LOCALHOST, "fourth").status, 429)
            # Another address is not affected.
            self.assertEqual(upgrade_from(server.port, SECOND_IP, "other").status, 101)

            open_sockets.pop(0).close()
            resp = eventually(self, lambda: (r := upgrade_from(server.port, LOCALHOST, "again"))
                              .status == 101 and r, "a closed connection frees its place")
            self.assertEqual(resp.status, 101)
        finally:
            for sock in open_sockets:
                sock.close()

    def test_behind_a_trusted_proxy_the_forwarded_address_counts_and_spoofing_does_not_help(self):
        server = self.start_server(free_config(
            EVENTS, server={"threads": 1, "trusted_proxies": [f"{LOCALHOST}/32"]},
            auth={"max_connections_per_ip": 1}))
        open_sockets = []

        def upgrade(source, forwarded, sub):
            sock, resp = upgraded_socket(server.port, sub, source,
                                         extra=[("X-Forwarded-For", forwarded)])
            open_sockets.append(sock)
            return resp

        try:
            # Through the proxy (127.0.0.1): each forwarded client has its own place.
            self.assertEqual(upgrade(LOCALHOST, "203.0.113.5", "a").status, 101)
            resp = upgrade(LOCALHOST, "198.51.100.1, 203.0.113.5", "b")
            self.assertEqual(resp.status, 429, resp)
            self.assertEqual(resp.json()["error"], "too_many_connections_per_ip", resp)
            self.assertEqual(upgrade(LOCALHOST, "203.0.113.6", "c").status, 101)
            # A malformed header counts toward the proxy's own address.
            self.assertEqual(upgrade(LOCALHOST, "not-an-ip", "d").status, 101)
            self.assertEqual(upgrade(LOCALHOST, "garbage", "e").status, 429)
            # An untrusted peer's header is ignored: a new address in it does not buy a place.
            self.assertEqual(upgrade(SECOND_IP, "203.0.113.7", "f").status, 101)
            self.assertEqual(upgrade(SECOND_IP, "203.0.113.8", "g").status, 429)
        finally:
            for sock in open_sockets:
                sock.close()

    def test_zero_is_unlimited(self):
        server = self.start_server(free_config(EVENTS, server={"threads": 1}))
        open_sockets = []
        try:
            for index in range(5):
                sock, resp = upgraded_socket(server.port, f"user{index}", LOCALHOST)
                open_sockets.append(sock)
                self.assertEqual(resp.status, 101, resp)
        finally:
            for sock in open_sockets:
                sock.close()


HOUR_MS = 3_600_000


class HandshakeRatePerIp(DispatchTestCase):
    def assert_rate_limited(self, resp, window_ms: int = 60_000):
        self.assertEqual(resp.status, 429, resp)
        self.assertEqual(resp.json()["error"], "handshake_rate_limited", resp)
        self.assertIn("handshake_rate_per_ip", resp.json()["message"])
        retry_ms = resp.json()["retry_after_ms"]
        self.assertGreater(retry_ms, 0)
        # Sliding window: the attempts of this window weigh on the next one too.
        self.assertLessEqual(retry_ms, 2 * window_ms)
        self.assertEqual(int(resp.headers["retry-after"]), (retry_ms + 999) // 1000, resp)

    def test_every_upgrade_request_counts_pages_do_not_and_other_addresses_are_free(self):
        server = self.start_server(free_config(EVENTS, server={"threads": 2},
                                               auth={"handshake_rate_per_ip": "3/1m"}))
        self.assertEqual(upgrade_from(server.port, LOCALHOST, "a").status, 101)
        # A refused upgrade (a bad token) counts too: guessing tokens is slowed to the rate.
        bad = http_get(server.port, "/ws", headers=[*UPGRADE_HEADERS,
                                                    ("Authorization", "Bearer not.a.token")])
        self.assertEqual(bad.status, 401, bad)
        self.assertEqual(upgrade_from(server.port, LOCALHOST, "b").status, 101)
        # Pages and health checks never count, before or after the limit.
        for _ in range(5):
            self.assertEqual(http_get(server.port, "/healthz").status, 200)
        self.assert_rate_limited(upgrade_from(server.port, LOCALHOST, "c"))
        # Refused before the token is read: a bad one gets the same 429, not a 401.
        self.assert_rate_limited(http_get(server.port, "/ws", headers=[
            *UPGRADE_HEADERS, ("Authorization", "Bearer not.a.token")]))
        self.assertEqual(http_get(server.port, "/").status, 200)
        # The count is per address and process-wide: the other address has its own 3.
        for sub in ("d", "e", "f"):
            self.assertEqual(upgrade_from(server.port, SECOND_IP, sub).status, 101)
        self.assert_rate_limited(upgrade_from(server.port, SECOND_IP, "g"))

    def test_behind_a_trusted_proxy_each_forwarded_client_and_ipv6_64_counts(self):
        server = self.start_server(free_config(
            EVENTS, server={"threads": 1, "trusted_proxies": [f"{LOCALHOST}/32"]},
            auth={"handshake_rate_per_ip": "1/1h"}))

        def upgrade(source, forwarded, sub):
            sock, resp = upgraded_socket(server.port, sub, source,
                                         extra=[("X-Forwarded-For", forwarded)])
            sock.close()
            return resp

        self.assertEqual(upgrade(LOCALHOST, "203.0.113.5", "a").status, 101)
        self.assert_rate_limited(upgrade(LOCALHOST, "198.51.100.1, 203.0.113.5", "b"), HOUR_MS)
        self.assertEqual(upgrade(LOCALHOST, "203.0.113.6", "c").status, 101)
        # IPv6: one /64 is one client; the next /64 is another.
        self.assertEqual(upgrade(LOCALHOST, "2001:db8::1", "d").status, 101)
        self.assert_rate_limited(upgrade(LOCALHOST, "2001:db8::ffff:2", "e"), HOUR_MS)
        self.assertEqual(upgrade(LOCALHOST, "2001:db8:0:1::1", "f").status, 101)
        # An untrusted peer's header is ignored: its own address is counted.
        self.assertEqual(upgrade(SECOND_IP, "203.0.113.7", "g").status, 101)
        self.assert_rate_limited(upgrade(SECOND_IP, "203.0.113.8", "h"), HOUR_MS)

    def test_zero_count_is_no_limit(self):
        server = self.start_server(free_config(EVENTS, server={"threads": 1},
                                               auth={"handshake_rate_per_ip": "0/1m"}))
        for index in range(8):
            self.assertEqual(upgrade_from(server.port, LOCALHOST, f"u{index}").status, 101)


IP_LIMITED_EVENTS = """
limited_ip:
  modifiers:
    - name: rate_limit
      params: ["2/m", "ip"]
  actions:
    - name: _reply
      params: ["done", '{"ok": true}']
"""


class RateLimitKeyIp(DispatchTestCase):
    def test_users_of_one_address_share_the_count_and_a_forwarded_client_has_its_own(self):
        server = self.start_server(free_config(
            IP_LIMITED_EVENTS, server={"threads": 2, "trusted_proxies": [f"{SECOND_IP}/32"]}))

        async def send(ws, ref):
            frames = await request(ws, {"event": "limited_ip", "id": ref})
            return frames[-1]["event"] if frames[-1]["event"] != "error" else \
                frames[-1]["payload"]["code"]

        async def go():
            # Two users from 127.0.0.1 (on the two loops) share the address's two messages.
            alice = await open_client(server, "alice")
            bob = await open_client(server, "bob")
            self.assertEqual(await send(alice, 1), "ack")
            self.assertEqual(await send(bob, 2), "ack")
            self.assertEqual(await send(alice, 3), "rate_limited")
            self.assertEqual(await send(bob, 4), "rate_limited")
            # Through the trusted proxy at 127.0.0.2, each forwarded client counts on its own.
            carol = await open_client(server, "carol", local_addr=(SECOND_IP, 0),
                                      headers=[("X-Forwarded-For", "203.0.113.9")])
            dave = await open_client(server, "dave", local_addr=(SECOND_IP, 0),
                                     headers=[("X-Forwarded-For", "203.0.113.10")])
            self.assertEqual([await send(carol, r) for r in (5, 6, 7)],
                             ["ack", "ack", "rate_limited"])
            self.assertEqual(await send(dave, 8), "ack")
            for ws in (alice, bob, carol, dave):
                await ws.close()

        self.arun(go())


if __name__ == "__main__":
    unittest.main()
