"""Token refresh (SPEC 4.3, docs/PROTOCOL.md `_refresh`) on the real binary: a client replaces its
session token without reconnecting. A later `exp` of the same user keeps the connection open past
the first token's expiry; without a refresh it closes 4401 "token expired"; every bad form of the
message and of the new token is answered (`bad_message` / `invalid_token`), keeps the connection
open and keeps the old token; the new token's permissions replace the old ones."""

import asyncio
import time
import unittest

from dispatch_harness import (DispatchTestCase, expect_close, expect_error, expect_quiet,
                              free_config, make_token, now, open_client, recv_json, request,
                              send_json)

EVENTS = {
    "ping": {"actions": [{"name": "_reply", "params": ["pong", "{}"]}]},
    "moderate": {
        "modifiers": [{"name": "require_permission", "params": ["moderate"]}],
        "actions": [{"name": "_reply", "params": ["moderated", "{}"]}],
    },
}


class Refresh(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(
            free_config(EVENTS, jwt={"leeway": "0s"}, permissions=["moderate"],
                        server={"error_budget": "100/10s"}))

    async def ack(self, ws, token, ref):
        frames = await request(ws, {"event": "_refresh", "payload": {"token": token}, "id": ref})
        self.assertEqual(frames, [{"event": "ack", "payload": {"ref": ref}}])

    def test_a_later_token_keeps_the_connection_past_the_first_expiry(self):
        async def go():
            first_exp = now() + 2
            ws = await open_client(self.server, token=make_token("tab", exp=first_exp))
            await self.ack(ws, make_token("tab", exp=now() + 60), 1)
            await asyncio.sleep(max(0.0, first_exp - time.time()) + 1.5)
            frames = await request(ws, {"event": "ping", "id": 2})
            self.assertEqual([f["event"] for f in frames], ["pong", "ack"])
        self.arun(go(), timeout=20)

    def test_without_a_refresh_the_connection_closes_4401(self):
        async def go():
            ws = await open_client(self.server, token=make_token("tab", exp=now() + 1))
            code, reason, _ = await expect_close(ws, timeout=8)
            self.assertEqual((code, reason), (4401, "token expired"))
        self.arun(go(), timeout=20)

    def test_the_new_expiry_is_enforced_too(self):
        async def go():
            ws = await open_client(self.server, token=make_token("tab", exp=now() + 1))
            await self.ack(ws, make_token("tab", exp=now() + 3), 1)
            started = time.time()
            code, reason, _ = await expect_close(ws, timeout=10)
            self.assertEqual((code, reason), (4401, "token expired"))
            self.assertGreater(time.time() - started, 1.0)   # not at the first token's exp
        self.arun(go(), timeout=20)

    def test_a_token_without_exp_ends_the_expiry(self):
        async def go():
            ws = await open_client(self.server, token=make_token("tab", exp=now() + 1))
            await self.ack(ws, make_token("tab"), 1)
            await asyncio.sleep(2.5)
            await expect_quiet(ws)
        self.arun(go(), timeout=20)

    def test_bad_forms_are_answered_and_keep_the_old_token(self):
        async def go():
            exp = now() + 30
            ws = await open_client(self.server, token=make_token("tab", exp=exp))
            bad_messages = [
                {"event": "_refresh", "id": 1},
                {"event": "_refresh", "payload": "token", "id": 2},
                {"event": "_refresh", "payload": {"token": 7}, "id": 3},
                {"event": "_refresh", "payload": {}, "id": 4},
            ]
            for message in bad_messages:
                await send_json(ws, message)
                error = await expect_error(ws, "bad_message", ref=message["id"], event="_refresh")
                self.assertIn("token", error["message"])
            bad_tokens = {
                5: ("garbage", "refused"),
                6: (make_token("tab", secret="another-secret", exp=exp + 60), "refused"),
                7: (make_token("someone-else", exp=exp + 60), "another user"),
                8: (make_token("tab", exp=exp - 10), "later"),
                9: (make_token("tab", exp=exp), "later"),
                10: (make_token("tab", exp=now() - 5), "expired"),
                11: (make_token("tab", exp=exp + 60, perms=["root"]), "`root`"),
                12: (make_token("tab", alg="none", exp=exp + 60), "refused"),
            }
            for ref, (token, says) in bad_tokens.items():
                await send_json(ws, {"event": "_refresh", "payload": {"token": token}, "id": ref})
                error = await expect_error(ws, "invalid_token", ref=ref, event="_refresh")
                self.assertIn(says, error["message"])
                self.assertNotIn(token, error["message"])
            # Still open, with the old token's permissions (none).
            await send_json(ws, {"event": "moderate", "id": 13})
            await expect_error(ws, "forbidden", ref=13)
        self.arun(go(), timeout=20)

    def test_the_new_tokens_permissions_replace_the_old_ones(self):
        async def go():
            ws = await open_client(self.server, token=make_token("mod", exp=now() + 30))
            await send_json(ws, {"event": "moderate", "id": 1})
            await expect_error(ws, "forbidden", ref=1)
            await self.ack(ws, make_token("mod", exp=now() + 60, perms=["moderate"]), 2)
            frames = await request(ws, {"event": "moderate", "id": 3})
            self.assertEqual([f["event"] for f in frames], ["moderated", "ack"])
            await self.ack(ws, make_token("mod", exp=now() + 90), 4)   # perms taken away
            await send_json(ws, {"event": "moderate", "id": 5})
            await expect_error(ws, "forbidden", ref=5)
        self.arun(go(), timeout=20)

    def test_a_refresh_without_id_is_applied_silently(self):
        async def go():
            ws = await open_client(self.server, token=make_token("tab", exp=now() + 1))
            await send_json(ws, {"event": "_refresh", "payload": {"token": make_token("tab", exp=now() + 60)}})
            await asyncio.sleep(2.2)
            frames = await request(ws, {"event": "ping", "id": 1})
            self.assertEqual([f["event"] for f in frames], ["pong", "ack"])
        self.arun(go(), timeout=20)


if __name__ == "__main__":
    unittest.main()
