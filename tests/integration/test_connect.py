"""SPEC section 3: connecting - where the token comes from, refusals before the upgrade, the
welcome frame, token expiry while connected, issuer/audience, HMAC variants, nothing secret in
the logs."""

import base64
import json
import os
import socket
import time
import unittest

from dispatch_harness import (
    DispatchTestCase, assert_secrets_not_logged, connect, expect_close,
    expect_no_frame, expect_quiet, free_config, make_token, now, open_client, raw_upgrade, recv_json,
    request, run_dispatch,
)

EVENTS = """
ping:
  actions:
    - name: _reply
      params: ["pong", '{"user": "{$user.id}"}']
"""


def check_welcome(tc, frame, user_id):
    tc.assertEqual(list(frame.keys()), ["event", "payload"], frame)
    tc.assertEqual(frame["event"], "welcome")
    p = frame["payload"]
    tc.assertEqual(list(p.keys()), ["conn_id", "user_id", "server"], frame)
    tc.assertIsInstance(p["conn_id"], str)
    tc.assertTrue(p["conn_id"], frame)
    tc.assertEqual(p["user_id"], user_id)
    tc.assertRegex(p["server"], r"^dispatch/\d+\.\d+\.\d+")


class TokenSources(DispatchTestCase):
    """Shared server (log level debug, so that anything logged at all is visible)."""

    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(free_config(EVENTS, permissions=["kick_user"],
                                                        log_level="debug"))

    def refuse(self, status, code, headers=None, token=None, path="/ws"):
        resp = raw_upgrade(self.server.port, headers, path=path, token=token)
        self.assertEqual(resp.status, status, resp)
        self.assertTrue(resp.headers.get("content-type", "").startswith("application/json"), resp.headers)
        body = resp.json()
        self.assertEqual(body.get("error"), code, body)
        self.assertIsInstance(body.get("message"), str, body)
        return body

    # -- where the token comes from ------------------------------------------------------------
    def test_bearer_header(self):
        async def go():
            ws = await connect(self.server.url(), make_token("hdr-user"), via="header")
            check_welcome(self, await recv_json(ws), "hdr-user")
            self.assertIsNone(ws.subprotocol)
            frames = await request(ws, {"event": "ping", "id": 1})
            self.assertEqual(frames[0]["payload"], {"user": "hdr-user"})
        self.arun(go())

    def test_subprotocol_dispatch_v1(self):
        async def go():
            ws = await connect(self.server.url(), make_token("sp-user"), via="subprotocol")
            self.assertEqual(ws.subprotocol, "dispatch.v1")
            check_welcome(self, await recv_json(ws), "sp-user")
        self.arun(go())

    def test_subprotocol_answer_is_exact_and_token_not_echoed(self):
        token = make_token("sp-raw")
        resp = raw_upgrade(self.server.port, [("Sec-WebSocket-Protocol", f"dispatch.v1, bearer.{token}")])
        self.assertEqual(resp.status, 101, resp)
        self.assertEqual(resp.headers.get("sec-websocket-protocol"), "dispatch.v1")
        head = " ".join(f"{k}: {v}" for k, v in resp.headers.items())
        self.assertNotIn(token.rsplit(".", 1)[1], head)
        # Offered in the other order the answer is still dispatch.v1, never the token.
        resp = raw_upgrade(self.server.port, [("Sec-WebSocket-Protocol", f"bearer.{token}, dispatch.v1")])
        self.assertEqual(resp.status, 101, resp)
        self.assertEqual(resp.headers.get("sec-websocket-protocol"), "dispatch.v1")

    def test_subprotocol_authorization_form(self):
        async def go():
            ws = await connect(self.server.url(), make_token("auth-sp"), via="authorization")
            self.assertEqual(ws.subprotocol, "Authorization")
            check_welcome(self, await recv_json(ws), "auth-sp")
        self.arun(go())
        token = make_token("auth-sp-raw")
        resp = raw_upgrade(self.server.port, [("Sec-WebSocket-Protocol", f"Authorization, {token}")])
        self.assertEqual(resp.status, 101, resp)
        self.assertEqual(resp.headers.get("sec-websocket-protocol"), "Authorization")

    def test_cookie(self):
        async def go():
            token = make_token("cookie-user")
            ws = await connect(self.server.url(), headers=[
                ("Cookie", f"theme=dark; session-token={token}; other=1")])
            check_welcome(self, await recv_json(ws), "cookie-user")
            ws2 = await connect(self.server.url(), token, via="cookie")
            check_welcome(self, await recv_json(ws2), "cookie-user")
        self.arun(go())

    # -- precedence ----------------------------------------------------------------------------
    def test_header_beats_subprotocol_and_cookie(self):
        async def go():
            bad = make_token("bad", secret="wrong-secret-0000")
            ws = await connect(self.server.url(), make_token("prec-hdr"), via="header",
                               subprotocols=["dispatch.v1", "bearer." + bad],
                               headers=[("Cookie", f"session-token={bad}")])
            check_welcome(self, await recv_json(ws), "prec-hdr")
            # Both valid: the header's user wins.
            ws = await connect(self.server.url(), make_token("prec-hdr2"), via="header",
                               subprotocols=["dispatch.v1", "bearer." + make_token("prec-sp2")],
                               headers=[("Cookie", f"session-token={make_token('prec-ck2')}")])
            check_welcome(self, await recv_json(ws), "prec-hdr2")
        self.arun(go())

    def test_subprotocol_beats_cookie(self):
        async def go():
            bad = make_token("bad", secret="wrong-secret-0000")
            ws = await connect(self.server.url(), make_token("prec-sp"), via="subprotocol",
                               headers=[("Cookie", f"session-token={bad}")])
            check_welcome(self, await recv_json(ws), "prec-sp")
            ws = await connect(self.server.url(), make_token("prec-sp3"), via="authorization",
                               headers=[("Cookie", f"session-token={make_token('prec-ck3')}")])
            check_welcome(self, await recv_json(ws), "prec-sp3")
        self.arun(go())

    def test_first_present_source_is_the_one_checked(self):
        # SPEC: the token is taken from the first source present; a bad header is not rescued
        # by a good cookie.
        bad = make_token("bad", secret="wrong-secret-0000")
        self.refuse(401, "invalid_token", headers=[
            ("Authorization", f"Bearer {bad}"), ("Cookie", f"session-token={make_token('ok')}")])
        self.refuse(401, "invalid_token", headers=[
            ("Sec-WebSocket-Protocol", f"dispatch.v1, bearer.{bad}"),
            ("Cookie", f"session-token={make_token('ok')}")])

    # -- refusals ------------------------------------------------------------------------------
    def test_missing_token(self):
        self.refuse(401, "missing_token")
        self.refuse(401, "missing_token", headers=[("Cookie", "theme=dark")])

    def test_a_token_in_the_url_is_not_read(self):
        # URLs end up in proxy logs and browser histories (docs/SECURITY.md): never a token source.
        token = make_token("url-user")
        for query in (f"token={token}", f"access_token={token}", f"bearer={token}"):
            self.refuse(401, "missing_token", path=f"/ws?{query}")

    def test_invalid_tokens(self):
        self.refuse(401, "invalid_token", token=make_token("x", secret="another-secret-9999"))
        self.refuse(401, "invalid_token", token=make_token("x", alg="none"))
        self.refuse(401, "invalid_token", token="garbage")
        self.refuse(401, "invalid_token", token="a.b.c")
        self.refuse(401, "invalid_token", token=make_token("x")[:-3])           # truncated signature
        self.refuse(401, "invalid_token", token=make_token(None))               # no sub
        self.refuse(401, "invalid_token", token=make_token(""))                 # empty sub
        self.refuse(401, "invalid_token", token=make_token(123))                # sub not a string
        # An HS256 token whose header claims another algorithm is not accepted either.
        self.refuse(401, "invalid_token", token=make_token("x", header={"alg": "RS256"}))

    def test_expired_token(self):
        self.refuse(401, "token_expired", token=make_token("old", exp=now() - 3600))

    def test_not_yet_valid_token(self):
        resp = raw_upgrade(self.server.port, token=make_token("future", nbf=now() + 3600))
        self.assertEqual(resp.status, 401, resp)
        # SPEC names no code for nbf; invalid_token is what Centrifugo-style servers answer.
        self.assertIn(resp.json().get("error"), ("invalid_token", "token_expired"), resp)

    def test_default_leeway_accepts_recently_expired(self):
        async def go():
            ws = await connect(self.server.url(), make_token("leeway", exp=now() - 10))
            check_welcome(self, await recv_json(ws), "leeway")
        self.arun(go())

    def test_unknown_permission(self):
        self.refuse(403, "unknown_permission", token=make_token("p", perms=["launch_missiles"]))
        self.refuse(403, "unknown_permission", token=make_token("p", perms=["kick_user", "nope"]))

        async def go():
            ws = await connect(self.server.url(), make_token("perm-ok", perms=["kick_user"]))
            check_welcome(self, await recv_json(ws), "perm-ok")
        self.arun(go())

    def test_forbidden_origin(self):
        token = make_token("origin")
        self.refuse(403, "forbidden_origin", token=token, headers=[("Origin", "https://evil.example")])
        resp = raw_upgrade(self.server.port, [("Origin", f"http://127.0.0.1:{self.server.port}")], token=token)
        self.assertEqual(resp.status, 101, resp)

    def test_other_path_is_404(self):
        resp = raw_upgrade(self.server.port, path="/nope", token=make_token("x"))
        self.assertEqual(resp.status, 404, resp)
        resp = raw_upgrade(self.server.port, path="/wsx", upgrade=False)
        self.assertEqual(resp.status, 404, resp)

    def test_plain_get_is_426(self):
        resp = raw_upgrade(self.server.port, upgrade=False, token=make_token("x"))
        self.assertEqual(resp.status, 426, resp)

    # -- welcome -------------------------------------------------------------------------------
    def test_welcome_frame_exact_shape(self):
        async def go():
            ws = await connect(self.server.url(), make_token("welcome-user"))
            raw = await ws.recv()
            self.assertIsInstance(raw, str, "welcome must be a text frame")
            import json
            frame = json.loads(raw)
            check_welcome(self, frame, "welcome-user")
            return frame
        frame = self.arun(go())
        version = run_dispatch(["--version"])
        self.assertEqual(version.returncode, 0, version)
        v = frame["payload"]["server"].split("/", 1)[1]
        self.assertIn(v, version.stdout + version.stderr)

    def test_conn_ids_unique(self):
        async def go():
            ids = []
            for i in range(12):
                ws = await open_client(self.server, f"uniq{i % 3}")
                ids.append(ws.welcome["payload"]["conn_id"])
            self.assertEqual(len(set(ids)), len(ids), ids)
        self.arun(go())

    def test_hs384_and_hs512(self):
        async def go():
            for alg in ("HS384", "HS512"):
                ws = await connect(self.server.url(), make_token(f"alg-{alg}", alg=alg))
                check_welcome(self, await recv_json(ws), f"alg-{alg}")
        self.arun(go())

    def test_zz_secret_and_tokens_never_logged(self):
        # Runs last in this class (alphabetical order): every token made so far went through
        # this server (accepted or refused); none of them, nor the secret, may be in the output.
        self.server.sync_logs()
        assert_secrets_not_logged(self.server)


def raw_exchange(port, request: bytes, timeout=5.0):
    """Sends raw request bytes; returns (status, body) of the answer: the head, then the body
    of Content-Length bytes (none for a 101)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length and (chunk := sock.recv(65536)):
            body += chunk
    return int(head.split(b" ", 2)[1]), body


class MalformedHandshakes(DispatchTestCase):
    """Handshakes Beast's parser accepts but RFC 6455/9112 do not: each a 400 saying why."""

    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(free_config(EVENTS))

    def request(self, first_line="GET /ws HTTP/1.1", host=True, extra=(), key=None):
        key = key or base64.b64encode(os.urandom(16)).decode()
        lines = [first_line]
        if host:
            lines.append(f"Host: 127.0.0.1:{self.server.port}")
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                  "Sec-WebSocket-Version: 13", f"Authorization: Bearer {make_token('raw')}"]
        lines += list(extra)
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def test_each_malformed_handshake_is_400_with_a_reason(self):
        port = self.server.port
        cases = [
            (self.request(first_line="GET /ws HTTP/1.0"), "needs HTTP/1.1"),
            (self.request(host=False), "the Host header is missing"),
            (self.request(extra=["Host: evil.example"]), "the Host header appears twice"),
            (self.request(extra=["Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="]),
             "the Sec-WebSocket-Key header appears twice"),
            (self.request(extra=[f"Origin: http://127.0.0.1:{port}", "Origin: https://evil.example"]),
             "the Origin header appears twice"),
            (self.request(extra=["X-Note: one", " folded"]), "obs-fold"),
            (self.request(key="dGhlIHNhbXBsZSBub25j!Q=="), "Sec-WebSocket-Key must be 16 bytes in base64"),
            (self.request(key="dGhlIHNhbXBsZSBub25jZR=="), "Sec-WebSocket-Key must be 16 bytes in base64"),
        ]
        for raw, reason in cases:
            status, body = raw_exchange(port, raw)
            self.assertEqual(status, 400, raw)
            answer = json.loads(body)
            self.assertEqual(answer["error"], "bad_request", raw)
            self.assertIn(reason, answer["message"], raw)
        status, _ = raw_exchange(port, self.request())     # the well-formed request still upgrades
        self.assertEqual(status, 101)


class CookiesAndStarOrigins(DispatchTestCase):
    """`"*"` admits any site with a token it sends itself, but never with the ambient cookie."""

    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(free_config(EVENTS, server={"allowed_origins": ["*"]}))

    def test_cookie_from_another_site_is_refused(self):
        port = self.server.port
        cookie = ("Cookie", f"session-token={make_token('victim')}")
        resp = raw_upgrade(port, [cookie, ("Origin", "https://evil.example")])
        self.assertEqual(resp.status, 403, resp)
        self.assertEqual(resp.json()["error"], "forbidden_origin")
        self.assertIn("session-token cookie", resp.json()["message"])
        for headers in ([cookie, ("Origin", f"http://127.0.0.1:{port}")], [cookie]):
            self.assertEqual(raw_upgrade(port, headers).status, 101, headers)
        resp = raw_upgrade(port, [("Origin", "https://evil.example")], token=make_token("site-token"))
        self.assertEqual(resp.status, 101, resp)


class IssuerAudienceExpiry(DispatchTestCase):
    """issuer/audience configured, leeway 0s: exp is enforced exactly, also while connected."""

    ISS = "https://issuer.example"
    AUD = "dispatch-tests"

    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(free_config(
            EVENTS, jwt={"issuer": cls.ISS, "audience": cls.AUD, "leeway": "0s"}, log_level="debug"))

    def tok(self, sub, **claims):
        claims.setdefault("iss", self.ISS)
        claims.setdefault("aud", self.AUD)
        return make_token(sub, **claims)

    def status(self, token):
        resp = raw_upgrade(self.server.port, token=token)
        return resp.status, (resp.json().get("error") if resp.status != 101 else None)

    def test_matching_issuer_and_audience(self):
        self.assertEqual(self.status(self.tok("ia")), (101, None))
        self.assertEqual(self.status(self.tok("ia", aud=["other", self.AUD])), (101, None))

    def test_wrong_or_missing_issuer(self):
        self.assertEqual(self.status(self.tok("ia", iss="https://evil.example")), (401, "invalid_token"))
        self.assertEqual(self.status(make_token("ia", aud=self.AUD)), (401, "invalid_token"))

    def test_wrong_or_missing_audience(self):
        self.assertEqual(self.status(self.tok("ia", aud="someone-else")), (401, "invalid_token"))
        self.assertEqual(self.status(self.tok("ia", aud=["a", "b"])), (401, "invalid_token"))
        self.assertEqual(self.status(make_token("ia", iss=self.ISS)), (401, "invalid_token"))

    def test_leeway_zero_refuses_just_expired(self):
        self.assertEqual(self.status(self.tok("ia", exp=now() - 2)), (401, "token_expired"))

    def test_expiry_while_connected_closes_4401(self):
        async def go():
            exp = now() + 2
            ws = await connect(self.server.url(), self.tok("expiring", exp=exp))
            check_welcome(self, await recv_json(ws), "expiring")
            frames = await request(ws, {"event": "ping", "id": 1})   # works while valid
            self.assertEqual(frames[-1]["event"], "ack")
            started = time.time()
            code, reason, _ = await expect_close(ws, timeout=8)
            self.assertEqual((code, reason), (4401, "token expired"))
            # Not long before exp, and not much after it.
            self.assertGreaterEqual(time.time(), exp - 1.0)
            self.assertLess(time.time() - max(started, exp), 3.0)
        self.arun(go(), timeout=20)

    def test_connection_without_exp_stays(self):
        async def go():
            ws = await connect(self.server.url(), self.tok("no-exp"))
            check_welcome(self, await recv_json(ws), "no-exp")
            # A connection whose token expires a second later is closed first; the one without
            # exp is still served after that.
            expiring = await connect(self.server.url(), self.tok("expires-first", exp=now() + 1))
            check_welcome(self, await recv_json(expiring), "expires-first")
            code, reason, _ = await expect_close(expiring, timeout=8)
            self.assertEqual((code, reason), (4401, "token expired"))
            await expect_quiet(ws)
        self.arun(go(), timeout=20)

    def test_zz_secret_and_tokens_never_logged(self):
        assert_secrets_not_logged(self.server)


class RequireExp(DispatchTestCase):
    def test_require_exp_refuses_token_without_exp(self):
        server = self.start_server(free_config(EVENTS, jwt={"require_exp": True}))
        resp = raw_upgrade(server.port, token=make_token("noexp"))
        self.assertEqual(resp.status, 401, resp)
        self.assertEqual(resp.json().get("error"), "invalid_token", resp)
        resp = raw_upgrade(server.port, token=make_token("withexp", exp=now() + 600))
        self.assertEqual(resp.status, 101, resp)


if __name__ == "__main__":
    unittest.main()
