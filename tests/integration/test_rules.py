"""SPEC sections 2 (`rooms:`), 4.1 (`_disconnect`), 4.2 (`require_permission`, `member_of`,
`match`) and 7 (close 4003), over real connections: for each rule the allowed case, and each
refusal with its exact error code while no other client receives anything (checked by a round
trip to that client, never by waiting)."""

import itertools
import unittest

from dispatch_harness import (
    DispatchTestCase, check_error, compact, expect_close, expect_quiet, free_config, make_token,
    open_client, recv_json, request, run_dispatch, send_json,
)

EVENTS = """
noop:
  actions:
    - name: _leave
      params: ["{$user.id}", "nowhere"]
kick:
  modifiers:
    - name: require_permission
      params: [kick_user]
  actions:
    - name: _disconnect
      params: ["{.payload.user}", "kicked by {$user.id}"]
join:
  actions:
    - name: _join
      params: ["{$user.id}", "{$target.id}"]
join_conn:
  actions:
    - name: _join
      params: ["{$user.id}", "{$target.id}", "connection"]
leave:
  actions:
    - name: _leave
      params: ["{$user.id}", "{$target.id}"]
invite:
  actions:
    - name: _join
      params: ["{.payload.user}", "{$target.id}"]
say:
  modifiers:
    - name: member_of
  actions:
    - name: _notify_room
      params: ["said", '{"text": "{.payload.text}"}']
shout:
  actions:
    - name: _notify_room
      params: ["shouted", '{"text": "{.payload.text}"}']
rename:
  modifiers:
    - name: match
      params: ["{.payload.name}", "[a-z][a-z0-9_]{2,15}"]
  actions:
    - name: _broadcast
      params: ["renamed", '{"name": "{.payload.name}"}']
"""

ROOMS = {
    "game:*": {"max_members": 2},
    "stage:*": {"join_permission": "moderate"},
    "quiet:*": {"member_only_send": True},
}

_ids = itertools.count(1)
_names = itertools.count(1)


def uniq(prefix):
    return f"{prefix}-{next(_names)}"


def msg(event, target=None, payload=None):
    m = {"event": event, "id": next(_ids)}
    if target is not None:
        m["target"] = target
    if payload is not None:
        m["payload"] = payload
    return m


class Rules(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        # Four loops: one user's connections and a room's members spread over several.
        cls.server = cls.start_class_server(free_config(
            EVENTS, server={"threads": 4, "error_budget": "1000/10s"},
            permissions=["kick_user", "moderate"], rooms=ROOMS))

    async def client(self, sub, perms=None):
        token = make_token(sub, perms=perms) if perms is not None else make_token(sub)
        return await open_client(self.server, token=token)

    async def ack(self, ws, m):
        frames = await request(ws, m)
        self.assertEqual(compact(frames[-1]), compact({"event": "ack", "payload": {"ref": m["id"]}}),
                         frames)
        return frames[:-1]

    async def refused(self, ws, m, code):
        """Sends m; its only answer is the error `code` (with m's ref and event)."""
        frames = await request(ws, m)
        self.assertEqual(len(frames), 1, frames)
        return check_error(frames[0], code, ref=m["id"], event=m["event"])

    async def quiet(self, *clients):
        for ws in clients:
            await expect_quiet(ws, "noop")

    # -- require_permission ---------------------------------------------------------------------
    def test_require_permission(self):
        async def go():
            admin = await self.client(uniq("admin"), ["kick_user"])
            mod = await self.client(uniq("mod"), ["moderate"])
            victim_id = uniq("victim")
            victim = await self.client(victim_id)
            p = await self.refused(mod, msg("kick", payload={"user": victim_id}), "forbidden")
            self.assertIn("kick_user", p["message"])
            await self.quiet(victim, admin)
            await self.ack(admin, msg("kick", payload={"user": victim_id}))
            code, reason, _ = await expect_close(victim)
            self.assertEqual(code, 4003)
        self.arun(go())

    # -- member_of --------------------------------------------------------------------------------
    def test_member_of(self):
        async def go():
            room = uniq("room")
            alice = await self.client(uniq("alice"))
            bob_id = uniq("bob")
            bob = await self.client(bob_id)
            await self.ack(alice, msg("join", room))
            p = await self.refused(bob, msg("say", room, {"text": "hi"}), "forbidden")
            self.assertEqual(p["message"], f"not a member of room {room}")
            await self.refused(bob, msg("say", f"user:{bob_id}", {"text": "hi"}), "forbidden")
            await self.quiet(alice, bob)
            frames = await self.ack(alice, msg("say", room, {"text": "hi"}))
            self.assertEqual([f["event"] for f in frames], ["said"])
        self.arun(go())

    # -- match ------------------------------------------------------------------------------------
    def test_match(self):
        async def go():
            alice = await self.client(uniq("alice"))
            bob = await self.client(uniq("bob"))
            for name in ["Bob", "bo", "bob!", "bob\nx", "a" * 17, ""]:
                await self.refused(alice, msg("rename", payload={"name": name}), "forbidden")
            await self.refused(alice, msg("rename", payload={}), "missing_field")
            await self.quiet(bob)
            await self.ack(alice, msg("rename", payload={"name": "bob_2"}))
            frame = await recv_json(bob)
            self.assertEqual(frame["event"], "renamed")
            self.assertEqual(frame["payload"], {"name": "bob_2"})
        self.arun(go())

    # -- room policies ----------------------------------------------------------------------------
    def test_max_members_counts_distinct_users(self):
        async def go():
            room = "game:" + uniq("g")
            alice_id = uniq("alice")
            # Three connections of alice (on different loops) count once.
            alices = [await self.client(alice_id) for _ in range(3)]
            for ws in alices:
                await self.ack(ws, msg("join_conn", room))
            bob = await self.client(uniq("bob"))
            await self.ack(bob, msg("join", room))
            carol_id = uniq("carol")
            carol = await self.client(carol_id)
            p = await self.refused(carol, msg("join", room), "room_full")
            self.assertIn(room, p["message"])
            # Pulled in by a member: refused alike, and carol is not in the room.
            await self.refused(bob, msg("invite", room, {"user": carol_id}), "room_full")
            await self.ack(bob, msg("shout", room, {"text": "members only"}))
            for ws in alices:
                self.assertEqual((await recv_json(ws))["event"], "shouted")
            await self.quiet(carol, *alices)
            # Alice's connections leave (one `_leave` for all of them): carol gets the place.
            await self.ack(alices[0], msg("leave", room))
            # The leave reached every loop alice is on before her connections' next answers.
            await self.quiet(*alices)
            await self.ack(carol, msg("join", room))
            frames = await self.ack(bob, msg("shout", room, {"text": "carol is in"}))
            self.assertEqual([f["event"] for f in frames], ["shouted"])
            self.assertEqual((await recv_json(carol))["payload"], {"text": "carol is in"})
            await self.quiet(*alices)
        self.arun(go())

    def test_join_permission_is_asked_of_the_sender(self):
        async def go():
            room = "stage:" + uniq("s")
            alice_id = uniq("alice")
            alice = await self.client(alice_id)
            mod = await self.client(uniq("mod"), ["moderate"])
            p = await self.refused(alice, msg("join", room), "forbidden")
            self.assertIn("moderate", p["message"])
            # Not a member: a shout to the room does not reach her.
            await self.ack(mod, msg("join", room))
            await self.ack(mod, msg("shout", room, {"text": "1"}))
            await self.quiet(alice)
            # The moderator brings her in.
            await self.ack(mod, msg("invite", room, {"user": alice_id}))
            frames = await self.ack(mod, msg("shout", room, {"text": "2"}))
            self.assertEqual([f["event"] for f in frames], ["shouted"])
            frame = await recv_json(alice)
            self.assertEqual((frame["event"], frame["payload"]), ("shouted", {"text": "2"}))
        self.arun(go())

    def test_member_only_send(self):
        async def go():
            room = "quiet:" + uniq("q")
            alice = await self.client(uniq("alice"))
            bob = await self.client(uniq("bob"))
            await self.ack(alice, msg("join", room))
            p = await self.refused(bob, msg("shout", room, {"text": "x"}), "forbidden")
            self.assertIn(room, p["message"])
            await self.quiet(alice, bob)
            # A room without the policy takes anyone's message; a member's passes.
            await self.ack(bob, msg("shout", uniq("open"), {"text": "x"}))
            frames = await self.ack(alice, msg("shout", room, {"text": "y"}))
            self.assertEqual([f["event"] for f in frames], ["shouted"])
        self.arun(go())

    # -- _disconnect ------------------------------------------------------------------------------
    def test_disconnect_closes_every_connection_with_4003_and_the_reason(self):
        async def go():
            admin_id = uniq("admin")
            admin = await self.client(admin_id, ["kick_user"])
            victim_id = uniq("victim")
            victims = [await self.client(victim_id) for _ in range(3)]
            other = await self.client(uniq("other"))
            await self.ack(admin, msg("kick", payload={"user": victim_id}))
            for ws in victims:
                code, reason, _ = await expect_close(ws)
                self.assertEqual((code, reason), (4003, f"kicked by {admin_id}"))
            await self.quiet(other, admin)
            # A user with no connection: nothing happens, still an ack.
            await self.ack(admin, msg("kick", payload={"user": uniq("nobody")}))
        self.arun(go())

    def test_disconnecting_oneself_closes_the_sender_too(self):
        async def go():
            admin_id = uniq("admin")
            admin = await self.client(admin_id, ["kick_user"])
            other_tab = await self.client(admin_id, ["kick_user"])
            bystander = await self.client(uniq("bystander"))
            await send_json(admin, msg("kick", payload={"user": admin_id}))
            for ws in (admin, other_tab):
                code, reason, _ = await expect_close(ws)
                self.assertEqual((code, reason), (4003, f"kicked by {admin_id}"))
            await self.quiet(bystander)
        self.arun(go())


class RulesConfig(DispatchTestCase):
    def test_undeclared_permission_is_refused_at_load(self):
        events = """
kick:
  modifiers:
    - name: require_permission
      params: [kick_usr]
  actions:
    - name: _reply
      params: ["ok", '{}']
"""
        result = run_dispatch(["check", "--config", "{config}"], free_config(events, permissions=["kick_user"]))
        self.assertEqual(result.returncode, 1, result)
        self.assertRegex(result.stdout + result.stderr,
                         r"config\.yaml:\d+:\d+: `require_permission`: `kick_usr` is not in the "
                         r"config's `permissions:` list")


if __name__ == "__main__":
    unittest.main()
