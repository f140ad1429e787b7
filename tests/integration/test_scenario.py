"""`dispatch test` (SPEC section 8.1, docs/TESTING-CONFIGS.md): scenario files run by the real
binary against a config, in process, with a virtual clock. These tests check what a user of the
command sees: the report of a failing step (which step, the expected frame, every frame the
client received), the exit codes, expect_nothing, advance past a rate-limit window, a refusal at
connect, and well-formed JUnit XML."""

import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import unittest
import xml.etree.ElementTree as ElementTree

from dispatch_harness import REPO, require_binary

CONFIG = """\
auth:
  jwt:
    secret: "scenario-test-secret-0123456789abcdef"
  connection_limit:
    max_per_user: 1
    mode: reject
events:
  join:
    actions:
      - {name: _join, params: ["{$user.id}", "{$target.id}"]}
  say:
    modifiers:
      - {name: rate_limit, params: ["2/10s"]}
    actions:
      - {name: _notify_room, params: [said, '{"text": "{.payload.text}"}']}
"""

# Passes: two members, a message, the rate limit, a window later, a refusal.
PASSING = """\
config: config.yaml
scenarios:
  - name: members hear each other
    clients:
      alice: {sub: alice}
      bob: {sub: bob}
    steps:
      - alice: {send: {event: join, target: "room:1", id: 1}}
      - alice: {expect: {event: ack, payload: {ref: 1}}}
      - bob: {send: {event: join, target: "room:1", id: 2}}
      - bob: {expect: {event: ack}}
      - bob: {send: {event: say, target: "room:1", payload: {text: hi}, id: 3}}
      - alice: {expect: {event: said, payload: {text: hi}, from: bob}}
      - alice: {expect_nothing: true}
      - bob: {expect: {event: said}}
      - bob: {expect: {event: ack, payload: {ref: 3}}}
"""


class ScenarioCommand(unittest.TestCase):
    def setUp(self):
        self.binary = require_binary()
        self.dir = tempfile.mkdtemp(prefix="dispatch-scenario-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.write("config.yaml", CONFIG)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text))
        return path

    def run_test(self, *args):
        proc = subprocess.run([self.binary, "test", *args], cwd=self.dir, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
        return proc

    def scenario(self, name, steps, clients="alice: {sub: alice}", ignore=None):
        """A scenario file with one scenario; `steps` is the YAML list of steps."""
        text = "config: config.yaml\nscenarios:\n  - name: %s\n    clients: {%s}\n" % (name, clients)
        if ignore:
            text += "    ignore: [%s]\n" % ", ".join(ignore)
        text += "    steps:\n" + textwrap.indent(textwrap.dedent(steps), "      ")
        return self.write("s.yaml", text)

    # ------------------------------------------------------------------ exit codes, report

    def test_passing_file_exits_0(self):
        path = self.write("ok.yaml", PASSING)
        proc = self.run_test(path)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("ok    members hear each other", proc.stdout)
        self.assertIn("1 scenario: 1 passed, 0 failed", proc.stdout)

    def test_failing_step_names_the_step_and_shows_every_frame(self):
        path = self.scenario("wrong text", """\
            - alice: {send: {event: join, target: "room:1", id: 1}}
            - alice: {send: {event: say, target: "room:1", payload: {text: hello}, id: 2}}
            - alice: {expect: {event: ack, payload: {ref: 1}}}
            - alice: {expect: {event: said, payload: {text: goodbye}}}
            """)
        proc = self.run_test(path)
        self.assertEqual(proc.returncode, 1, proc.stdout)
        out = proc.stdout
        self.assertIn("FAIL  wrong text", out)
        # The step, by file:line:col, and where the frame differs.
        self.assertIn("s.yaml:9:9: alice: expect: the next frame differs at payload.text: "
                      'expected "goodbye", received "hello"', out)
        self.assertIn('- expected {"event":"said","payload":{"text":"goodbye"}}', out)
        self.assertIn('+ received {"event":"said","payload":{"text":"hello"},"room":"room:1",'
                      '"from":"alice"}', out)
        # Every frame alice received, in order, with what became of it.
        lines = out[out.index("every frame alice received"):].splitlines()[1:5]
        self.assertRegex(lines[0], r"^\s+welcome\s+\{\"event\":\"welcome\"")
        self.assertRegex(lines[1], r"^\s+line 8\s+\{\"event\":\"ack\",\"payload\":\{\"ref\":1\}\}")
        self.assertRegex(lines[2], r"^\s+> unread\s+\{\"event\":\"said\"")
        self.assertRegex(lines[3], r"^\s+unread\s+\{\"event\":\"ack\",\"payload\":\{\"ref\":2\}\}")

    def test_frame_left_unread_fails_unless_ignored(self):
        steps = """\
            - alice: {send: {event: join, target: "room:1", id: 1}}
            """
        proc = self.run_test(self.scenario("unread ack", steps))
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn("alice: a frame no step expected is unread when the scenario ends", proc.stdout)
        self.assertIn('+ received {"event":"ack","payload":{"ref":1}}', proc.stdout)

        proc = self.run_test(self.scenario("ack ignored", steps, ignore=["ack"]))
        self.assertEqual(proc.returncode, 0, proc.stdout)

        # An expect passes over ignored frames; when only those came, the report says so.
        proc = self.run_test(self.scenario("only ignored", steps + "- alice: {expect: {event: said}}\n",
                                           ignore=["ack"]))
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn("alice: expect: no frame came but 1 ignored one", proc.stdout)
        self.assertRegex(proc.stdout, r"\n\s+ignored\s+\{\"event\":\"ack\",\"payload\":\{\"ref\":1\}\}")

    def test_bad_scenario_file_exits_2_with_positions(self):
        path = self.write("bad.yaml", """\
            config: config.yaml
            scenarios:
              - name: typo
                clients: {alice: {sub: alice}}
                steps:
                  - alice: {sned: {event: join}}
                  - mallory: {send: {event: join}}
                  - advance: soon
            """)
        proc = self.run_test(path)
        self.assertEqual(proc.returncode, 2, proc.stdout)
        self.assertRegex(proc.stdout, r"bad.yaml:6:\d+: unknown client step `sned`")
        self.assertIn("bad.yaml:7:9: unknown client `mallory`", proc.stdout)
        self.assertIn("bad.yaml:8:18: `advance` takes a duration", proc.stdout)
        self.assertIn("nothing in this file ran", proc.stdout)

    def test_bad_config_exits_2_with_the_configs_positions(self):
        self.write("config.yaml", CONFIG.replace("events:", "evnets:"))
        proc = self.run_test(self.write("ok.yaml", PASSING))
        self.assertEqual(proc.returncode, 2, proc.stdout)
        self.assertIn("config.yaml:", proc.stdout)
        self.assertIn("evnets", proc.stdout)

    def test_missing_config_exits_2(self):
        proc = self.run_test(self.write("ok.yaml", PASSING.replace("config.yaml", "nope.yaml")))
        self.assertEqual(proc.returncode, 2, proc.stdout)
        self.assertIn("nope.yaml", proc.stdout)

    def test_config_is_relative_to_the_scenario_file(self):
        os.mkdir(os.path.join(self.dir, "sub"))
        path = self.write("sub/ok.yaml", PASSING.replace("config.yaml", "../config.yaml"))
        proc = subprocess.run([self.binary, "test", path], cwd="/", capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 0, proc.stdout)

    # ------------------------------------------------------------------ steps

    def test_expect_nothing_fails_when_a_frame_came(self):
        clients = "alice: {sub: alice}, bob: {sub: bob}"
        steps = """\
            - alice: {send: {event: join, target: "room:1"}}
            - bob: {send: {event: say, target: "room:1", payload: {text: hi}, id: 1}}
            - bob: {expect: {event: ack}}
            - alice: {expect_nothing: true}
            """
        proc = self.run_test(self.scenario("alice hears it", steps, clients))
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn("s.yaml:9:9: alice: a frame no step expected is unread (expect_nothing)",
                      proc.stdout)
        self.assertIn('+ received {"event":"said","payload":{"text":"hi"}', proc.stdout)

        # bob is not in the room: nothing for him.
        proc = self.run_test(self.scenario("bob hears nothing", steps.replace(
            "- alice: {expect_nothing: true}",
            "- alice: {expect: {event: said}}\n            - bob: {expect_nothing: true}"), clients))
        self.assertEqual(proc.returncode, 0, proc.stdout)

    def test_advance_past_the_rate_limit_window(self):
        sends = "".join('- alice: {send: {event: say, target: "room:1", payload: {text: x}, id: %d}}\n'
                        '- alice: {expect: {event: ack, payload: {ref: %d}}}\n' % (i, i)
                        for i in (1, 2))
        limited = ('- alice: {send: {event: say, target: "room:1", payload: {text: x}, id: 3}}\n'
                   '- alice: {expect: {event: error, payload: {code: rate_limited, ref: 3}}}\n')
        again = ('- alice: {send: {event: say, target: "room:1", payload: {text: x}, id: 4}}\n'
                 '- alice: {expect: {event: ack, payload: {ref: 4}}}\n')
        proc = self.run_test(self.scenario("window", sends + limited + "- advance: 20s\n" + again))
        self.assertEqual(proc.returncode, 0, proc.stdout)

        # Without moving the clock the fourth is limited too: the clock is virtual, not the
        # machine's.
        proc = self.run_test(self.scenario("no window", sends + limited + again))
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn('differs at event: expected "ack", received "error"', proc.stdout)

    def test_refusal_at_connect(self):
        proc = self.run_test(self.scenario("second alice", """\
            - connect: {alice2: {sub: alice}, expect_refusal: too_many_connections}
            - connect: {bob: {sub: bob}}
            - bob: {expect_nothing: true}
            """))
        self.assertEqual(proc.returncode, 0, proc.stdout)

        proc = self.run_test(self.scenario("wrong code", """\
            - connect: {alice2: {sub: alice}, expect_refusal: invalid_token}
            """))
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn("s.yaml:6:9: alice2: expected refusal `invalid_token`, refused with "
                      "`too_many_connections`", proc.stdout)

        proc = self.run_test(self.scenario("accepted", """\
            - connect: {bob: {sub: bob}, expect_refusal: too_many_connections}
            """))
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn("bob: expected refusal `too_many_connections`, but the connection was "
                      "accepted", proc.stdout)

    def test_token_expiry_closes_in_virtual_time(self):
        proc = self.run_test(self.scenario("expiry", """\
            - advance: 1m
            - alice: {expect_nothing: true}
            - advance: 30s
            - alice: {expect_close: 4401}
            """, clients="alice: {sub: alice, exp: 1m}"))
        self.assertEqual(proc.returncode, 0, proc.stdout)

        proc = self.run_test(self.scenario("unexpected close", """\
            - advance: 2m
            """, clients="alice: {sub: alice, exp: 1m}"))
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn('alice: its connection was closed (4401 "token expired") and no step '
                      'expected it', proc.stdout)

    def test_expect_close_checks_the_reason_when_given(self):
        proc = self.run_test(self.scenario("reason", """\
            - advance: 2m
            - alice: {expect_close: {code: 4401, reason: "token expired"}}
            """, clients="alice: {sub: alice, exp: 1m}"))
        self.assertEqual(proc.returncode, 0, proc.stdout)

        proc = self.run_test(self.scenario("wrong reason", """\
            - advance: 2m
            - alice: {expect_close: {code: 4401, reason: "kicked"}}
            """, clients="alice: {sub: alice, exp: 1m}"))
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn('alice: expected close 4401 "kicked", closed with 4401 "token expired"',
                      proc.stdout)

        path = self.scenario("bad forms", """\
            - alice: {expect_close: {code: 4401, why: x}}
            - alice: {expect_close: {reason: x}}
            - alice: {expect_close: {code: 99, reason: x}}
            - alice: {expect_close: {code: 4401, reason: [x]}}
            """)
        proc = self.run_test(path)
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        self.assertIn("s.yaml:6:49: `expect_close` has `code` and `reason`, not `why`", proc.stdout)
        self.assertIn("s.yaml:7:31: `expect_close` needs its `code`", proc.stdout)
        self.assertIn("s.yaml:8:38: `expect_close` takes a close code", proc.stdout)
        self.assertIn("s.yaml:9:52: `expect_close`'s `reason` is the close reason as text",
                      proc.stdout)

    def test_event_tokens_are_minted_for_a_secure_event(self):
        self.write("secure.yaml", """\
            auth:
              jwt:
                secret: "scenario-test-secret-0123456789abcdef"
              event_jwt:
                secret: "scenario-event-secret-0123456789abcdef"
            events:
              delete:
                modifiers:
                  - {name: secure, params: ["msg={.payload.id}", once]}
                actions:
                  - {name: _reply, params: [deleted, '{"id": "{.payload.id}"}']}
            """)
        path = self.write("s.yaml", """\
            config: secure.yaml
            scenarios:
              - name: single-use tokens naming the message
                clients: {alice: {sub: alice}}
                steps:
                  - alice: {send: {event: delete, payload: {id: m1}, id: 1}, with_event_token: {msg: m1, jti: t1, exp: 1m}}
                  - alice: {expect: {event: deleted, payload: {id: m1}}}
                  - alice: {expect: {event: ack, payload: {ref: 1}}}
                  - alice: {send: {event: delete, payload: {id: m1}, id: 2}, with_event_token: {msg: m1, jti: t1, exp: 1m}}
                  - alice: {expect: {event: error, payload: {code: invalid_token, ref: 2, message: "the event token was already used (its `jti` is spent)"}}}
                  - alice: {send: {event: delete, payload: {id: m1}, id: 3}, with_event_token: {msg: m2, jti: t3, exp: 1m}}
                  - alice: {expect: {event: error, payload: {code: invalid_token, ref: 3}}}
                  - alice: {send: {event: delete, payload: {id: m1}, id: 4}, with_event_token: {msg: m1, jti: t4, exp: -1h}}
                  - alice: {expect: {event: error, payload: {code: invalid_token, ref: 4}}}
                  - alice: {send: {event: delete, payload: {id: m1}, id: 5}, with_event_token: {sub: bob, msg: m1, jti: t5, exp: 1m}}
                  - alice: {expect: {event: error, payload: {code: invalid_token, ref: 5}}}
                  - alice: {send: {event: delete, id: 6}, with_event_token: {evt: other, msg: m1, jti: t6, exp: 1m}}
                  - alice: {expect: {event: error, payload: {code: invalid_token, ref: 6}}}
            """)
        proc = self.run_test(path)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

        bad = self.write("bad.yaml", """\
            config: secure.yaml
            scenarios:
              - name: bad forms
                clients: {alice: {sub: alice}}
                steps:
                  - alice: {expect: {event: x}, with_event_token: {msg: m1}}
                  - alice: {send: "raw text", with_event_token: {msg: m1}}
                  - alice: {send: {event: delete, payload: 7}, with_event_token: {msg: m1}}
                  - alice: {send: {event: delete}, with_event_token: {exp: soon}}
            """)
        proc = self.run_test(bad)
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        self.assertIn("bad.yaml:6:16: `with_event_token` goes with a `send` of a message object",
                      proc.stdout)
        self.assertIn("bad.yaml:7:16: `with_event_token` goes with a `send` of a message object",
                      proc.stdout)
        self.assertIn("bad.yaml:8:23: `with_event_token` puts the token in payload.token: the "
                      "payload must be an object", proc.stdout)
        self.assertIn("bad.yaml:9:64: `exp` is unix seconds or a duration", proc.stdout)

    # ------------------------------------------------------------------ JUnit

    def test_junit_xml_is_well_formed(self):
        ok = self.write("ok.yaml", PASSING)
        failing = self.scenario("a <failing> & \"quoted\" one", """\
            - alice: {expect: {event: never}}
            """)
        bad = self.write("bad.yaml", "config: config.yaml\nscenarios: 3\n")
        junit = os.path.join(self.dir, "results.xml")
        proc = self.run_test(ok, failing, bad, "--junit", junit)
        self.assertEqual(proc.returncode, 2, proc.stdout)  # a file could not be read
        root = ElementTree.parse(junit).getroot()
        self.assertEqual(root.tag, "testsuites")
        self.assertEqual((root.get("tests"), root.get("failures"), root.get("errors")),
                         ("3", "1", "1"))
        suites = root.findall("testsuite")
        self.assertEqual([s.get("name") for s in suites], [ok, failing, bad])
        passed_case = suites[0].find("testcase")
        self.assertEqual(passed_case.get("name"), "members hear each other")
        self.assertIsNone(passed_case.find("failure"))
        failed_case = suites[1].find("testcase")
        self.assertEqual(failed_case.get("name"), 'a <failing> & "quoted" one')
        failure = failed_case.find("failure")
        self.assertIn("alice: expect: no frame came", failure.get("message"))
        self.assertIn('- expected {"event":"never"}', failure.text)
        self.assertIsNotNone(suites[2].find("testcase").find("error"))

        # Only a failing scenario: exit 1.
        proc = self.run_test(ok, failing, "--junit", junit)
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertEqual(ElementTree.parse(junit).getroot().get("failures"), "1")

    # ------------------------------------------------------------------ the docs

    def test_the_worked_example_of_the_docs_runs_as_shown(self):
        with open(os.path.join(REPO, "docs", "TESTING-CONFIGS.md"), encoding="utf-8") as f:
            doc = f.read()
        config, scenarios = re.findall(r"```yaml\n(.*?)```", doc, re.S)[:2]
        self.write("config.yaml", config)
        path = self.write("scenarios.yaml", scenarios)
        env = dict(os.environ, DISPATCH_JWT_SECRET="docs-example-secret-0123456789abcdef")
        proc = subprocess.run([self.binary, "test", "scenarios.yaml"], cwd=self.dir, env=env,
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertIn("1 scenario: 1 passed, 0 failed", proc.stdout)

        # The failure the docs show, with the config allowing three messages.
        self.write("config.yaml", config.replace('"2/10s"', '"3/10s"'))
        proc = subprocess.run([self.binary, "test", "scenarios.yaml"], cwd=self.dir, env=env,
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 1, proc.stdout)
        shown = re.search(r"```text\n(scenarios.yaml\n  FAIL.*?)```", doc, re.S).group(1)
        conn_id = re.compile(r'"conn_id":"[^"]*"')
        self.assertEqual(conn_id.sub('"conn_id":""', proc.stdout), conn_id.sub('"conn_id":""', shown))
        self.assertTrue(path)

    def test_no_file_is_a_command_line_error(self):
        proc = self.run_test()
        self.assertEqual(proc.returncode, 2)


if __name__ == "__main__":
    unittest.main()
