"""GET /metrics (issue 10, part 3): the Prometheus text format, valid for `promtool check
metrics`, with connections opened, closed (by who and code) and refused (by code), messages in
and out, per declared event and outcome, messages refused before an event, and the config
version across a reload. Labels come only from the config and fixed lists, never from what a
client sent."""

import shutil
import signal
import subprocess
import time
import unittest

from dispatch_harness import (DispatchTestCase, free_config, make_token, open_client, raw_upgrade,
                              request)
from test_lifecycle import wait_caught
from test_preauth import http_get

EVENTS = """
echo:
  actions:
    - name: _reply
      params: ["echoed", '{"ok": true}']
guarded:
  modifiers:
    - name: require_permission
      params: ["moderator"]
  actions:
    - name: _reply
      params: ["done", '{"ok": true}']
limited:
  modifiers:
    - name: rate_limit
      params: ["1/h"]
  actions:
    - name: _reply
      params: ["done", '{"ok": true}']
"""
EXTRA_EVENT = """
added:
  actions:
    - name: _reply
      params: ["done", '{"ok": true}']
"""


def parse(text: str) -> dict:
    """{'name{label="v",...}': value} for every sample line."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


class Metrics(DispatchTestCase):
    def scrape(self, server) -> tuple[str, dict]:
        resp = http_get(server.port, "/metrics")
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.headers["content-type"].startswith("text/plain; version=0.0.4"), resp)
        text = resp.body.decode()
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian's prometheus package) is needed: "
                                       "./scripts/install-deps installs it")
        check = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                               capture_output=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr + text)
        return text, parse(text)

    def test_counts_what_clients_did_with_labels_only_from_the_config(self):
        server = self.start_server(free_config(
            EVENTS, server={"threads": 2}, permissions=["moderator"]))
        _, before = self.scrape(server)
        self.assertEqual(before['dispatch_event_messages_total{event="echo",outcome="ok"}'], 0)
        self.assertEqual(before["dispatch_connections"], 0)
        self.assertEqual(before["dispatch_config_version"], 1)

        async def go():
            alice = await open_client(server, "alice")
            bob = await open_client(server, "bob")
            for ref in (1, 2):
                await request(alice, {"event": "echo", "id": ref})
            await request(bob, {"event": "guarded", "id": 3})
            for ref in (4, 5):
                await request(alice, {"event": "limited", "id": ref})
            await request(alice, {"event": 'evil"} 1\nfake_metric{a="', "id": 6})
            await alice.send("not json")
            await request(alice, {"event": "echo", "id": 7})  # barrier: the bad JSON was read
            _, during = self.scrape(server)
            self.assertEqual(during["dispatch_connections"], 2)
            await alice.close(code=1000)
            bob.transport.abort()

        self.arun(go())
        self.assertEqual(raw_upgrade(server.port, token=None).status, 401)
        self.assertEqual(raw_upgrade(server.port, token=make_token("x", secret="wrong")).status,
                         401)

        def settled():
            text, samples = self.scrape(server)
            closed = samples.get('dispatch_connections_closed_total{by="network",code="1006"}')
            return (text, samples) if closed == 1 else None

        text, after = self.wait_until(settled)
        self.assertEqual(after['dispatch_event_messages_total{event="echo",outcome="ok"}'], 3)
        self.assertEqual(after['dispatch_event_messages_total{event="guarded",outcome="forbidden"}'],
                         1)
        self.assertEqual(after['dispatch_event_messages_total{event="limited",outcome="ok"}'], 1)
        self.assertEqual(
            after['dispatch_event_messages_total{event="limited",outcome="rate_limited"}'], 1)
        self.assertEqual(after['dispatch_messages_refused_total{code="unknown_event"}'], 1)
        self.assertEqual(after['dispatch_messages_refused_total{code="bad_json"}'], 1)
        self.assertEqual(after["dispatch_messages_in_total"], 8)
        # Two welcomes, three echoes with acks, one forbidden, one limited with its ack, one
        # rate_limited, one unknown_event, one bad_json.
        self.assertEqual(after["dispatch_messages_out_total"], 2 + 6 + 1 + 2 + 1 + 1 + 1)
        self.assertGreater(after["dispatch_bytes_in_total"], 0)
        self.assertEqual(after["dispatch_connections_opened_total"], 2)
        self.assertEqual(after['dispatch_connections_closed_total{by="client",code="1000"}'], 1)
        self.assertEqual(after["dispatch_connections"], 0)
        self.assertEqual(after['dispatch_connections_refused_total{code="missing_token"}'], 1)
        self.assertEqual(after['dispatch_connections_refused_total{code="invalid_token"}'], 1)
        # The client's event name is nowhere: no label, no injected line.
        self.assertNotIn("evil", text)
        self.assertNotIn("fake_metric", text)

    def test_a_reload_bumps_the_version_and_keeps_the_counts(self):
        server = self.start_server(free_config(EVENTS, permissions=["moderator"]))

        async def go():
            ws = await open_client(server, "carol")
            await request(ws, {"event": "echo", "id": 1})
            server.write_config(free_config(EVENTS + EXTRA_EVENT, permissions=["moderator"]))
            mark = server.log_mark()
            wait_caught(server.pid, signal.SIGHUP)
            server.send_signal(signal.SIGHUP)
            server.wait_for_log(lambda l: l.get("msg") == "config reloaded", 5, since=mark)
            await request(ws, {"event": "echo", "id": 2})
            await request(ws, {"event": "added", "id": 3})
            await ws.close()

        self.arun(go())
        _, samples = self.scrape(server)
        self.assertEqual(samples["dispatch_config_version"], 2)
        self.assertEqual(samples['dispatch_config_reloads_total{result="applied"}'], 1)
        self.assertEqual(samples['dispatch_event_messages_total{event="echo",outcome="ok"}'], 2)
        self.assertEqual(samples['dispatch_event_messages_total{event="added",outcome="ok"}'], 1)

    def test_message_durations_are_sampled_into_a_histogram(self):
        server = self.start_server(free_config(EVENTS, server={"threads": 1},
                                               permissions=["moderator"]))

        async def go():
            ws = await open_client(server, "dave")
            for ref in range(130):
                await request(ws, {"event": "echo", "id": ref})
            await ws.close()

        self.arun(go())
        _, samples = self.scrape(server)
        # One message in 64 is timed: 130 messages give two samples.
        self.assertEqual(samples["dispatch_message_duration_seconds_count"], 2)
        self.assertEqual(samples['dispatch_message_duration_seconds_bucket{le="+Inf"}'], 2)
        self.assertGreater(samples["dispatch_message_duration_seconds_sum"], 0)
        self.assertLess(samples["dispatch_message_duration_seconds_sum"], 2)

    def wait_until(self, attempt, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        while True:
            result = attempt()
            if result:
                return result
            if time.monotonic() > deadline:
                self.fail("the closes were not counted in time")
            time.sleep(0.05)


if __name__ == "__main__":
    unittest.main()
