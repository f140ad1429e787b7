"""The monitoring files under deploy/ held against a real server: the Grafana dashboard
(deploy/grafana/dispatch-dashboard.json) and the Prometheus alert rules and example config
(deploy/prometheus/). The real binary serves some traffic (connections, messages, an error, a
refused upgrade, a webhook delivery, closes), GET /metrics is scraped, and every metric that a
panel, a dashboard variable or an alert names must be in that scrape (histograms by their
_bucket/_count/_sum series), with the labels its selectors match on: renaming a metric or a
label in src/ without the dashboard and the alerts fails here. Every panel has a data source
and a query; every query is valid PromQL and the rules and config pass promtool; each alert
fires on the trouble it describes and not on healthy traffic (promtool's unit tests of the rules,
deploy/prometheus/alerts_test.yml)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import yaml

from dispatch_harness import (DispatchTestCase, free_config, http_request, make_token,
                              open_client, raw_upgrade, request)
from redis_server import RedisServer
from test_webhooks import Receiver

API_KEY = "dashboard-test-api-key-0123456789abcdef"

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(REPO, "deploy", "grafana", "dispatch-dashboard.json")
ALERTS = os.path.join(REPO, "deploy", "prometheus", "alerts.yml")
ALERT_TESTS = os.path.join(REPO, "deploy", "prometheus", "alerts_test.yml")
PROMETHEUS_CONFIG = os.path.join(REPO, "deploy", "prometheus", "prometheus.yml")

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
notify:
  actions:
    - name: _webhook
      params: [backend, '{"user": "{$user.id}"}']
"""

# Labels Prometheus adds at scrape time (target labels), not in the exposition itself.
TARGET_LABELS = {"instance", "job"}
# Grafana's variables, given a value so that a panel's query is PromQL promtool can check.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s",
                     "$instance": ".*"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTOR = re.compile(r"\b(dispatch_[A-Za-z0-9_:]*)\s*(\{[^}]*\})?")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")


def selectors(expr: str) -> list[tuple[str, set]]:
    """(metric name, label names its matchers use) for every dispatch_* selector in a PromQL
    expression (names inside string literals, e.g. legends or label values, are not metrics)."""
    # Blank out string literals (label values, e.g. "dispatch_x", are no metric names).
    code = _STRING.sub(lambda s: s.group()[0] + " " * (len(s.group()) - 2) + s.group()[-1], expr)
    found = []
    for m in _SELECTOR.finditer(code):
        found.append((m.group(1), set(_MATCHER.findall(m.group(2) or ""))))
    return found


def parse_samples(text: str) -> dict[str, list[set]]:
    """{sample name: [label names of each sample]} of a Prometheus text exposition."""
    samples: dict[str, list[set]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s", line)
        assert m, f"not a sample line: {line!r}"
        labels = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=\"", m.group(2) or ""))
        samples.setdefault(m.group(1), []).append(labels)
    return samples


def all_panels(panels: list) -> list:
    """Every panel, rows' nested panels included."""
    result = []
    for panel in panels:
        result.append(panel)
        result.extend(all_panels(panel.get("panels", [])))
    return result


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise AssertionError("promtool (Debian's prometheus package) is needed: "
                             "./scripts/install-deps installs it")
    return path


def run_promtool(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


class Dashboard(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        with open(DASHBOARD, encoding="utf-8") as f:
            cls.dashboard = json.load(f)
        with open(ALERTS, encoding="utf-8") as f:
            cls.alert_rules = [rule for group in yaml.safe_load(f)["groups"]
                               for rule in group["rules"]]

    def panels(self) -> list:
        return [p for p in all_panels(self.dashboard["panels"]) if p.get("type") != "row"]

    def dashboard_queries(self) -> list[tuple[str, str]]:
        """(where, expression) of every panel target and every query variable."""
        queries = []
        for panel in self.panels():
            for target in panel.get("targets", []):
                queries.append((f"panel {panel['title']!r} {target.get('refId')}",
                                target.get("expr", "")))
        for variable in self.dashboard["templating"]["list"]:
            if variable.get("type") == "query":
                query = variable["query"]
                queries.append((f"variable {variable['name']}",
                                query["query"] if isinstance(query, dict) else query))
        return queries

    def alert_queries(self) -> list[tuple[str, str]]:
        return [(f"alert {rule['alert']}", rule["expr"]) for rule in self.alert_rules]

    def scrape_after_traffic(self) -> dict[str, list[set]]:
        """GET /metrics of a server in cluster mode that served connections, messages, an error,
        a refused upgrade, a webhook delivery and closes."""
        receiver = Receiver()
        self.addCleanup(receiver.httpd.shutdown)
        redis = RedisServer()  # cluster mode, so the cluster series are served too
        self.addCleanup(redis.stop)
        server = self.start_server(free_config(
            EVENTS, permissions=["moderator"], api={"key": API_KEY},
            extra=f"webhooks:\n  backend:\n    url: \"{receiver.url('/ok')}\"\n"
                  f"cluster:\n  redis: {redis.url}\n"))

        async def go():
            alice = await open_client(server, "alice")
            bob = await open_client(server, "bob")
            for ref in range(1, 4):
                await request(alice, {"event": "echo", "id": ref})
            await request(bob, {"event": "guarded", "id": 4})  # forbidden: an error outcome
            await request(alice, {"event": "notify", "id": 5})
            await alice.send("not json")
            await request(alice, {"event": "echo", "id": 6})  # barrier: the bad JSON was read
            await alice.close(code=1000)
            await bob.close(code=1000)

        self.arun(go())
        self.assertEqual(raw_upgrade(server.port, token=make_token("x", secret="wrong")).status,
                         401)
        published = http_request(server.port, "POST", "/api/publish",
                                 {"Authorization": f"Bearer {API_KEY}"},
                                 b'{"target": "*", "event": "tick"}')
        self.assertEqual(published.status, 200, published)
        receiver.wait_for(lambda requests: len(requests) == 1)
        deadline = time.monotonic() + 10
        while True:
            response = http_request(server.port, "GET", "/metrics")
            self.assertEqual(response.status, 200, response)
            text = response.body.decode()
            delivered = 'dispatch_webhook_deliveries_total{target="backend",outcome="delivered"} 1'
            closed = 'dispatch_connections_closed_total{by="client",code="1000"} 2'
            if delivered in text and closed in text:
                return parse_samples(text)
            if time.monotonic() > deadline:
                self.fail(f"the delivery and the closes were not counted in time:\n{text}")
            time.sleep(0.05)

    def test_every_metric_and_label_queried_is_served(self):
        samples = self.scrape_after_traffic()
        queries = self.dashboard_queries() + self.alert_queries()
        self.assertGreater(len(queries), 20)
        problems = []
        for where, expr in queries:
            found = selectors(expr)
            if not found:
                problems.append(f"{where}: names no dispatch_ metric: {expr}")
            for name, labels in found:
                if name not in samples:
                    problems.append(f"{where}: {name} is not in the scrape")
                    continue
                served = set().union(*samples[name]) | TARGET_LABELS
                for label in sorted(labels - served):
                    problems.append(f"{where}: {name} has no label {label!r}")
        if problems:
            self.fail("\n".join(problems) + "\nserved: " + ", ".join(sorted(samples)))

    def test_every_panel_has_a_data_source_and_a_query(self):
        self.assertGreaterEqual(self.dashboard["schemaVersion"], 36)
        inputs = {i["name"] for i in self.dashboard.get("__inputs", [])}
        self.assertIn("DS_PROMETHEUS", inputs)
        variables = {v["name"]: v for v in self.dashboard["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        self.assertEqual(variables["instance"]["query"]["query"],
                         "label_values(dispatch_build_info, instance)")
        panels = self.panels()
        self.assertGreater(len(panels), 10)
        ids = [p["id"] for p in all_panels(self.dashboard["panels"])]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")
        for panel in panels:
            with self.subTest(panel=panel.get("title")):
                self.assertEqual(panel.get("datasource"),
                                 {"type": "prometheus", "uid": "${datasource}"})
                self.assertTrue(panel.get("targets"), "at least one query")
                for target in panel["targets"]:
                    self.assertTrue(target.get("expr"), target)
                    self.assertTrue(target.get("refId"), target)
                    # Every query is filtered by the instance variable.
                    self.assertIn('instance=~"$instance"', target["expr"])

    def test_every_dashboard_query_is_valid_promql(self):
        # promtool parses PromQL when it checks rules: the panels' queries as recording rules.
        rules = []
        for index, (where, expr) in enumerate(self.dashboard_queries()):
            if expr.startswith("label_values("):
                continue  # Grafana's own function, not PromQL
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            self.assertNotIn("$", expr, f"{where}: a Grafana variable this test does not know")
            rules.append({"record": f"dashboard:query_{index}", "expr": expr})
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "dashboard-rules.yml")
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
            check = run_promtool("check", "rules", path)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_alert_rules_and_prometheus_config_pass_promtool(self):
        check = run_promtool("check", "rules", ALERTS)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn(f"SUCCESS: {len(self.alert_rules)} rules found", check.stdout)
        check = run_promtool("check", "config", os.path.basename(PROMETHEUS_CONFIG),
                             cwd=os.path.dirname(PROMETHEUS_CONFIG))
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("alerts.yml", check.stdout)
        for rule in self.alert_rules:
            with self.subTest(alert=rule["alert"]):
                self.assertIn("severity", rule["labels"])
                self.assertTrue(rule["annotations"]["summary"])

    def test_each_alert_fires_on_its_trouble_and_not_on_healthy_traffic(self):
        # alerts_test.yml: promtool's unit tests of the rules, on series shaped like the scrape.
        with open(ALERT_TESTS, encoding="utf-8") as f:
            cases = yaml.safe_load(f)["tests"]
        firing = {case["alertname"] for test in cases for case in test["alert_rule_test"]
                  if case.get("exp_alerts")}
        self.assertEqual(firing, {rule["alert"] for rule in self.alert_rules},
                         "every alert has a case where it fires")
        check = run_promtool("test", "rules", os.path.basename(ALERT_TESTS),
                             cwd=os.path.dirname(ALERT_TESTS))
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


if __name__ == "__main__":
    unittest.main()
