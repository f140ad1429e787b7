"""The command line (SPEC section 1): serve is the default command (`dispatch --config FILE`),
help and version print and exit 0, `check --strict` fails on lint warnings, `check
--without-secrets` checks a config whose secrets are not set, `token` needs only the secret it
signs with, and an `--env-file` that does not exist is an error naming it."""

import base64
import hashlib
import hmac
import json
import re
import unittest

from dispatch_harness import (
    DEFAULT_SECRET, REPO, DispatchTestCase, b64url, example_bin, free_config, require_binary,
    run_dispatch,
)

LOG_EVENT = """
e:
  actions:
    - name: _log
      params: ["x"]
"""

UNLIMITED_BROADCAST = """
announce:
  actions:
    - name: _broadcast
      params: ["news", '{}']
"""

LONG_SECRET = "a-session-secret-long-enough-for-no-warning"


def verify_hs256(token: str, secret: str) -> dict:
    """The claims of an HS256 token, after checking its signature with `secret`."""
    header, payload, signature = token.split(".")
    expected = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    if b64url(expected) != signature:
        raise AssertionError("the token is not signed with the expected secret")
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line of `text` containing `needle`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


class DefaultCommand(DispatchTestCase):
    def test_config_without_a_command_serves(self):
        # `dispatch --config FILE` is `dispatch serve --config FILE`.
        server = self.start_server(free_config(LOG_EVENT), command=())
        self.assertTrue(server.running())
        self.assertEqual(server.stop(), 0)

    def test_options_of_serve_before_another_command_are_refused(self):
        r = run_dispatch(["--config", "{config}", "check"], "events: {}\n", timeout=10)
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("write it after `check`", r.stderr)

    def test_missing_env_file_is_an_error_naming_it(self):
        for args in (["--config", "{config}", "--env-file", "no-such.env"],
                     ["serve", "--config", "{config}", "--env-file", "no-such.env"],
                     ["check", "--config", "{config}", "--env-file", "no-such.env"],
                     ["token", "--sub", "alice", "--config", "{config}", "--env-file", "no-such.env"]):
            r = run_dispatch(args, free_config(LOG_EVENT), timeout=10)
            self.assertEqual(r.returncode, 1, (args, r))
            self.assertIn("no-such.env: cannot read the environment file", r.stdout + r.stderr, args)


class HelpAndVersion(unittest.TestCase):
    def test_help_and_version_exit_0(self):
        for args in (["help"], ["--help"], ["-h"]):
            r = run_dispatch(args, timeout=10)
            self.assertEqual(r.returncode, 0, (args, r))
            self.assertIn("dispatch check --config FILE", r.stdout, args)
        for args in (["version"], ["--version"]):
            r = run_dispatch(args, timeout=10)
            self.assertEqual(r.returncode, 0, (args, r))
            self.assertRegex(r.stdout, r"^dispatch \S+\n$", args)

    def test_help_lists_each_command_once(self):
        r = run_dispatch(["--help"], timeout=10)
        self.assertEqual(r.returncode, 0, r)
        self.assertNotIn("Subcommands:", r.stdout)
        for command in ("check", "token", "test", "help", "version"):
            listed = [line for line in r.stdout.splitlines()
                      if re.match(rf"\s+(dispatch )?{command}\b", line)]
            self.assertEqual(len(listed), 1, (command, listed, r.stdout))


class Check(unittest.TestCase):
    def test_lints_are_warnings_and_strict_makes_them_fail(self):
        text = free_config(UNLIMITED_BROADCAST)
        line = line_of(text, "- name: _broadcast")
        column = text.splitlines()[line - 1].index("name: _broadcast") + 1
        env = {"DISPATCH_JWT_SECRET": LONG_SECRET}
        r = run_dispatch(["check", "--config", "{config}"], text, env=env, timeout=10)
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, rf"config\.yaml:{line}:{column}: warning: event `announce` sends to "
                                   rf"every connection .* \[unlimited_broadcast\]")
        self.assertIn("lint_ignore: [unlimited_broadcast]", r.stdout)
        self.assertIn("config.yaml: ok (1 warning)", r.stdout)

        r = run_dispatch(["check", "--strict", "--config", "{config}"], text, env=env, timeout=10)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("config.yaml: 1 warning, which --strict makes errors", r.stdout)

        silenced = free_config("announce:\n  lint_ignore: [unlimited_broadcast]\n"
                               + UNLIMITED_BROADCAST.split("\n", 2)[2])
        r = run_dispatch(["check", "--strict", "--config", "{config}"], silenced, env=env,
                         timeout=10)
        self.assertEqual(r.returncode, 0, r)
        self.assertNotIn("warning", r.stdout)

    def test_short_secret_warning_has_its_position(self):
        text = free_config(LOG_EVENT, jwt={"secret": "short"})
        line = line_of(text, "short")
        r = run_dispatch(["check", "--config", "{config}"], text, timeout=10)
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, rf"config\.yaml:{line}:\d+: warning: the JWT secret is shorter "
                                   rf"than 32 bytes")
        r = run_dispatch(["check", "--strict", "--config", "{config}"], text, timeout=10)
        self.assertEqual(r.returncode, 1, r)

    def test_short_secret_warning_names_its_variable(self):
        """A short secret from the environment has no position in the file: the warning names the
        variable instead; one from `secret: ${S}` keeps its position and names S too."""
        text = "events:\n  e:\n    actions:\n      - name: _log\n        params: [x]\n"
        r = run_dispatch(["check", "--config", "{config}"], text,
                         env={"DISPATCH_JWT_SECRET": "short"}, timeout=10)
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, r"config\.yaml: warning: the JWT secret from DISPATCH_JWT_SECRET "
                                   r"is shorter than 32 bytes")
        text = free_config(LOG_EVENT, jwt={"secret": "${CLI_TEST_SHORT_SECRET}"})
        line = line_of(text, "CLI_TEST_SHORT_SECRET")
        r = run_dispatch(["check", "--config", "{config}"], text,
                         env={"CLI_TEST_SHORT_SECRET": "short"}, timeout=10)
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, rf"config\.yaml:{line}:\d+: warning: the JWT secret from "
                                   rf"\$\{{CLI_TEST_SHORT_SECRET\}} is shorter than 32 bytes")

    def test_check_reports_each_template_mistake_at_its_placeholder(self):
        """A template with two mistakes reports both, each at the placeholder's own line:col, and
        each "did you mean" compiles: with the suggestions written in, the config passes."""
        text = ("events:\n"
                "  hi:\n"
                "    actions:\n"
                "      - name: _reply\n"
                "        params: [\"x\", '{\"a\": \"{payload.x}\", \"b\": \"{user.name}\"}']\n")
        r = run_dispatch(["check", "--config", "{config}"], text,
                         env={"DISPATCH_JWT_SECRET": LONG_SECRET}, timeout=10)
        self.assertEqual(r.returncode, 1, r)
        lines = [line for line in (r.stdout + r.stderr).splitlines() if "param" in line]
        self.assertEqual(len(lines), 2, r.stdout + r.stderr)
        self.assertRegex(lines[0], r"/config\.yaml:5:31: .*`\{payload\.x\}` is not a placeholder.*"
                                   r"did you mean \{\.payload\.x\}\?")
        self.assertRegex(lines[1], r"/config\.yaml:5:51: .*`\{user\.name\}` is not a placeholder.*"
                                   r"did you mean \{\$token\.name\}\?")
        self.assertNotIn("offset", r.stdout + r.stderr)
        fixed = text
        for line in lines:
            wrong, meant = re.search(r"`(\{[^`]*\})` is not a placeholder.*did you mean (\{[^ ]*\})\?",
                                     line).groups()
            fixed = fixed.replace(wrong, meant)
        r = run_dispatch(["check", "--config", "{config}"], fixed,
                         env={"DISPATCH_JWT_SECRET": LONG_SECRET}, timeout=10)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_without_secrets_checks_a_config_whose_secrets_are_unset(self):
        text = free_config(LOG_EVENT, auth={"event_jwt": {"secret": "${CLI_TEST_EVENT_SECRET}"}})
        unset = {"DISPATCH_JWT_SECRET": None, "CLI_TEST_EVENT_SECRET": None}
        r = run_dispatch(["check", "--config", "{config}"], text, env=unset, timeout=10)
        self.assertEqual(r.returncode, 1, r)

        r = run_dispatch(["check", "--without-secrets", "--strict", "--config", "{config}"], text,
                         env=unset, timeout=10)
        self.assertEqual(r.returncode, 0, r)
        session_line = line_of(text, "${DISPATCH_JWT_SECRET}")
        event_line = line_of(text, "${CLI_TEST_EVENT_SECRET}")
        self.assertRegex(r.stdout, rf"config\.yaml:{session_line}:\d+: note: not set: "
                                   rf"DISPATCH_JWT_SECRET \(checked without it\)")
        self.assertRegex(r.stdout, rf"config\.yaml:{event_line}:\d+: note: not set: "
                                   rf"CLI_TEST_EVENT_SECRET \(checked without it\)")
        self.assertIn("config.yaml: ok", r.stdout)

        # Anything else that is wrong still fails, and other unset variables are errors.
        broken = text.replace('address: "127.0.0.1:0"', "address: ${CLI_TEST_ADDRESS}")
        self.assertNotEqual(broken, text)
        r = run_dispatch(["check", "--without-secrets", "--config", "{config}"], broken,
                         env={**unset, "CLI_TEST_ADDRESS": None}, timeout=10)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("CLI_TEST_ADDRESS` is not set", r.stdout)

    def test_shipped_example_configs_pass_strict(self):
        no_secret = {"DISPATCH_JWT_SECRET": None}
        r = run_dispatch(["check", "--strict", "--config", "examples/chat/config.yaml"], cwd=REPO,
                         timeout=10)
        self.assertEqual(r.returncode, 0, r)
        self.assertNotIn("warning", r.stdout)
        r = run_dispatch(["check", "--strict", "--without-secrets", "--config",
                          "examples/custom_action/config.yaml"], cwd=REPO, env=no_secret,
                         binary=require_binary(example_bin()), timeout=10)
        self.assertEqual(r.returncode, 0, r)
        self.assertNotIn("warning", r.stdout)


class Token(unittest.TestCase):
    def test_token_needs_only_the_session_secret(self):
        text = free_config(LOG_EVENT, auth={"event_jwt": {"secret": "${CLI_TEST_EVENT_SECRET}"}})
        r = run_dispatch(["token", "--sub", "alice", "--config", "{config}"], text,
                         env={"CLI_TEST_EVENT_SECRET": None}, timeout=10)
        self.assertEqual(r.returncode, 0, r)
        claims = verify_hs256(r.stdout.strip(), DEFAULT_SECRET)
        self.assertEqual(claims["sub"], "alice")

    def test_token_without_the_session_secret_says_which(self):
        r = run_dispatch(["token", "--sub", "alice", "--config", "{config}"],
                         free_config(LOG_EVENT), env={"DISPATCH_JWT_SECRET": None}, timeout=10)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("not set: DISPATCH_JWT_SECRET", r.stderr)
        self.assertIn("pass --secret", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_token_claims_name_each_key_once(self):
        # --claim exp=… replaces the exp of --ttl, a repeated --claim keeps its last value; the
        # payload holds each key once (a JSON object with two `exp` would be read differently
        # by different verifiers).
        secret = "cli-test-secret-0123456789abcdef0123"
        r = run_dispatch(["token", "--secret", secret, "--sub", "alice", "--perm", "a",
                          "--claim", "exp=4102444800", "--claim", "sub=bob", "--claim", "x=1",
                          "--claim", "x=2", "--claim", "jti=j-1"], timeout=10)
        self.assertEqual(r.returncode, 0, r)
        payload = r.stdout.strip().split(".")[1]
        payload_text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        pairs = json.loads(payload_text, object_pairs_hook=lambda kv: kv)
        self.assertEqual([k for k, _ in pairs], ["sub", "iat", "exp", "perms", "x", "jti"])
        claims = verify_hs256(r.stdout.strip(), secret)
        self.assertEqual((claims["sub"], claims["exp"], claims["x"], claims["perms"]),
                         ("bob", 4102444800, 2, ["a"]))


if __name__ == "__main__":
    unittest.main()
