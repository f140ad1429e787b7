"""Session tokens signed with a private key (auth.jwt.public_key_file): RS256, ES256 and EdDSA
tokens made and signed by the openssl command line connect; a token of another algorithm, an
HS256 token signed with the PEM text as its secret (the classic algorithm-confusion attack), a
token signed by another key and a tampered one are refused; a bad key file is a check error at
its line."""

import json
import os
import subprocess
import tempfile
import unittest

from dispatch_harness import (
    DispatchServer, DispatchTestCase, b64url, connect, free_config, make_token, now, raw_upgrade,
    recv_json, run_dispatch,
)

EVENTS = {"ping": {"actions": [{"name": "_reply", "params": ["pong", "{}"]}]}}


def openssl(*args, data: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def der_to_raw_ecdsa(der: bytes, size: int) -> bytes:
    """openssl writes ECDSA signatures as DER SEQUENCE{INTEGER r, INTEGER s}; JWS wants r||s."""
    assert der[0] == 0x30
    pos = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[pos] == 0x02
        length = der[pos + 1]
        value = der[pos + 2:pos + 2 + length].lstrip(b"\0")
        out += value.rjust(size, b"\0")
        pos += 2 + length
    return out


class KeyPair:
    """A private key made by openssl in `folder`, its public PEM beside it, and tokens signed
    with it."""

    def __init__(self, folder: str, name: str, genpkey_args: list[str], alg: str):
        self.alg = alg
        self.private = os.path.join(folder, f"{name}.key")
        self.public = os.path.join(folder, f"{name}.pub.pem")
        openssl("genpkey", *genpkey_args, "-out", self.private)
        openssl("pkey", "-in", self.private, "-pubout", "-out", self.public)

    def sign(self, signing_input: bytes) -> bytes:
        if self.alg == "EdDSA":
            with tempfile.NamedTemporaryFile() as f:
                f.write(signing_input)
                f.flush()
                return openssl("pkeyutl", "-sign", "-inkey", self.private, "-rawin", "-in", f.name)
        digest = {"256": "-sha256", "384": "-sha384", "512": "-sha512"}[self.alg[2:]]
        signature = openssl("dgst", digest, "-sign", self.private, data=signing_input)
        if self.alg.startswith("ES"):
            return der_to_raw_ecdsa(signature, 32 if self.alg == "ES256" else 48)
        return signature

    def token(self, sub: str, alg: str | None = None, **claims) -> str:
        header = {"alg": alg or self.alg, "typ": "JWT"}
        payload = {"sub": sub, **claims}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(payload).encode()))
        return signing_input + "." + b64url(self.sign(signing_input.encode()))


def hs256_with_secret(secret: bytes, sub: str) -> str:
    """An HS256 token whose HMAC key is `secret` (bytes: the PEM text in the attack)."""
    import hashlib
    import hmac
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": sub}).encode())
    signing_input = f"{header}.{payload}".encode()
    return f"{header}.{payload}." + b64url(hmac.new(secret, signing_input, hashlib.sha256).digest())


class PublicKeyTokens(DispatchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.TemporaryDirectory()
        cls.addClassCleanup(cls.folder.cleanup)
        cls.keys = {
            "RS256": KeyPair(cls.folder.name, "rsa", ["-algorithm", "RSA", "-pkeyopt",
                                                      "rsa_keygen_bits:2048"], "RS256"),
            "ES256": KeyPair(cls.folder.name, "p256", ["-algorithm", "EC", "-pkeyopt",
                                                       "ec_paramgen_curve:P-256"], "ES256"),
            "EdDSA": KeyPair(cls.folder.name, "ed", ["-algorithm", "ED25519"], "EdDSA"),
        }
        cls.servers = {}
        for alg, key in cls.keys.items():
            # No secret: the key is the only way in, so an HS256 token keyed with the PEM text
            # (or with an empty key) meets no HMAC secret to hide behind.
            cls.servers[alg] = cls.start_class_server(
                free_config(EVENTS, jwt={"secret": "", "public_key_file": key.public}))
        cls.both = cls.start_class_server(
            free_config(EVENTS, jwt={"public_key_file": cls.keys["RS256"].public}))

    def refuse(self, server, token, code="invalid_token"):
        resp = raw_upgrade(server.port, token=token)
        self.assertEqual(resp.status, 401, resp)
        self.assertEqual(resp.json().get("error"), code, resp)

    def test_each_algorithm_connects_with_a_token_signed_by_its_private_key(self):
        async def go():
            for alg, key in self.keys.items():
                ws = await connect(self.servers[alg].url(), key.token(f"user-{alg}",
                                                                      exp=now() + 60))
                welcome = await recv_json(ws)
                self.assertEqual(welcome["event"], "welcome", welcome)
                self.assertEqual(welcome["payload"]["user_id"], f"user-{alg}")
                await ws.close()
        self.arun(go())

    def test_hmac_tokens_still_work_beside_the_key(self):
        async def go():
            ws = await connect(self.both.url(), make_token("hmac-user"))
            self.assertEqual((await recv_json(ws))["payload"]["user_id"], "hmac-user")
            await ws.close()
            ws = await connect(self.both.url(), self.keys["RS256"].token("rsa-user"))
            self.assertEqual((await recv_json(ws))["payload"]["user_id"], "rsa-user")
            await ws.close()
        self.arun(go())

    def test_hs256_keyed_with_the_public_key_text_is_refused(self):
        for alg, key in self.keys.items():
            with open(key.public, "rb") as f:
                pem = f.read()
            self.refuse(self.servers[alg], hs256_with_secret(pem, "attacker"))
            self.refuse(self.servers[alg], hs256_with_secret(pem.strip(), "attacker"))
            self.refuse(self.servers[alg], hs256_with_secret(b"", "attacker"))
            self.refuse(self.both, hs256_with_secret(pem, "attacker"))

    def test_a_token_signed_by_another_key_or_tampered_is_refused(self):
        rsa, ec, ed = self.keys["RS256"], self.keys["ES256"], self.keys["EdDSA"]
        self.refuse(self.servers["RS256"], ec.token("x"))           # ES256 to an RSA key
        self.refuse(self.servers["ES256"], ed.token("x"))           # EdDSA to a P-256 key
        self.refuse(self.servers["EdDSA"], rsa.token("x"))          # RS256 to an Ed25519 key
        self.refuse(self.servers["RS256"], rsa.token("x", alg="ES256"))  # header lies
        self.refuse(self.servers["RS256"], rsa.token("x", alg="RS384"))  # other hash, same key
        good = rsa.token("victim")
        header, payload, signature = good.split(".")
        forged = b64url(json.dumps({"sub": "admin"}).encode())
        self.refuse(self.servers["RS256"], f"{header}.{forged}.{signature}")
        self.refuse(self.servers["RS256"], f"{header}.{payload}.{signature[:-4]}")
        self.refuse(self.servers["RS256"], f"{header}.{payload}.")

    def test_claims_are_checked_as_for_hmac_tokens(self):
        key = self.keys["EdDSA"]
        self.refuse(self.servers["EdDSA"], key.token("old", exp=now() - 3600), "token_expired")


class PublicKeyFileErrors(unittest.TestCase):
    def check(self, key_path: str, fragment: str):
        config = free_config(EVENTS, jwt={"public_key_file": key_path})
        result = run_dispatch(["check", "--config", "{config}"], config)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        output = result.stdout + result.stderr
        self.assertRegex(output, r":\d+:\d+: `auth.jwt.public_key_file`: ")
        self.assertIn(fragment, output)

    def test_bad_key_files_are_check_errors_at_the_key(self):
        with tempfile.TemporaryDirectory() as folder:
            missing = os.path.join(folder, "missing.pem")
            self.check(missing, "missing.pem")
            garbage = os.path.join(folder, "garbage.pem")
            with open(garbage, "w") as f:
                f.write("not a key\n")
            self.check(garbage, "PUBLIC KEY")
            private = os.path.join(folder, "private.pem")
            openssl("genpkey", "-algorithm", "ED25519", "-out", private)
            self.check(private, "it holds a PRIVATE key")
            small = os.path.join(folder, "small.key")
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", small)
            small_public = os.path.join(folder, "small.pem")
            openssl("pkey", "-in", small, "-pubout", "-out", small_public)
            self.check(small_public, "2048")


if __name__ == "__main__":
    unittest.main()
