"""Three Dispatch nodes and one Redis behind Debian's nginx as the WebSocket load balancer, with
the shipped deploy/nginx/dispatch-cluster.conf (its addresses replaced by loopback ones): clients
connect through nginx, land on all three nodes, and chat as on one server — every message reaches
every member exactly once, each sender's in order, and a user's connections on two nodes both get
what is sent to that user. A missing nginx or redis-server fails the test."""

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from dispatch_harness import (LOCALHOST, REPO, DispatchTestCase, free_config, free_port,
                              http_request, open_client, recv_json, request)
from redis_server import RedisServer

NGINX = "/usr/sbin/nginx"
SHIPPED = os.path.join(REPO, "deploy", "nginx", "dispatch-cluster.conf")

EVENTS = {
    "join": {"actions": [{"name": "_join", "params": ["{$user.id}", "{$target.id}"]}]},
    "say": {"actions": [{"name": "_notify_room", "params": ["said", "{.payload}"]}]},
    "tell": {"actions": [{"name": "_notify_user",
                          "params": ["{.payload.user}", "told", "{.payload}"]}]},
}


class Nginx:
    """nginx in the foreground, as the test's user, everything in a temporary directory."""

    def __init__(self, node_ports):
        if not os.path.exists(NGINX):
            raise AssertionError(f"{NGINX} is missing: run ./scripts/install-deps")
        self.dir = tempfile.mkdtemp(prefix="dispatch-nginx-")
        self.port = free_port()
        with open(SHIPPED, encoding="utf-8") as f:
            site = f.read()
        site, listens = re.subn(r"listen 80;", f"listen {LOCALHOST}:{self.port};", site)
        ports = iter(node_ports)
        site, servers = re.subn(r"server 10\.0\.0\.1\d:8080",
                                lambda _: f"server {LOCALHOST}:{next(ports)}", site)
        assert (listens, servers) == (1, 3), "the shipped config changed shape: update this test"
        temp = "".join(f"    {kind}_temp_path {self.dir}/{kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = (f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {self.dir}/nginx.pid;\n"
                f"error_log {self.dir}/error.log warn;\nevents {{ worker_connections 256; }}\n"
                f"http {{\n    access_log off;\n{temp}{site}\n}}\n")
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(conf)
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.dir, "-e", f"{self.dir}/error.log", "-c", self.conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection((LOCALHOST, self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"nginx did not start: {self.output()}")
                time.sleep(0.02)

    def url(self, path="/ws") -> str:
        return f"ws://{LOCALHOST}:{self.port}{path}"

    def output(self) -> str:
        log = ""
        try:
            with open(os.path.join(self.dir, "error.log"), encoding="utf-8") as f:
                log = f.read()[-2000:]
        except OSError:
            pass
        return log

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def node_of(ws) -> str:
    return ws.welcome["payload"]["conn_id"].split("-")[0]


class ChatBehindNginx(DispatchTestCase):
    def test_a_chat_across_three_nodes_behind_nginx(self):
        redis = RedisServer()
        self.addCleanup(redis.stop)
        config = free_config(EVENTS, server={"trusted_proxies": ["127.0.0.1"]},
                             extra=f"cluster:\n  redis: {redis.url}\n")
        nodes = [self.start_server(config) for _ in range(3)]
        nginx = Nginx([node.port for node in nodes])
        self.addCleanup(nginx.stop)
        self.assertEqual(http_request(nginx.port, "GET", "/healthz").status, 200)

        async def go():
            users = [f"user{i}" for i in range(6)]
            clients = {user: await open_client(nginx.url(), user) for user in users}
            landed = {node_of(ws) for ws in clients.values()}
            self.assertEqual(len(landed), 3, "least_conn spreads the clients over every node")
            for i, ws in enumerate(clients.values()):
                frames = await request(ws, {"event": "join", "target": "chat", "id": i})
                self.assertEqual(frames[-1]["event"], "ack")

            rounds = 5
            for n in range(rounds):
                for user, ws in clients.items():
                    await ws.send(json.dumps({"event": "say", "target": "chat",
                                              "payload": {"from": user, "n": n}}))
            for user, ws in clients.items():
                got = [(await recv_json(ws, timeout=5))["payload"]
                       for _ in range(rounds * len(users))]
                for sender in users:  # every message once, each sender's in order
                    self.assertEqual([p["n"] for p in got if p["from"] == sender],
                                     list(range(rounds)), (user, sender))

            # A user with connections on two nodes gets what is sent to that user on both.
            second = None
            for attempt in range(10):
                ws = await open_client(nginx.url(), "user0")
                if node_of(ws) != node_of(clients["user0"]):
                    second = ws
                    break
            self.assertIsNotNone(second, "a second connection landed on another node")
            await request(clients["user5"], {"event": "tell", "id": "t",
                                             "payload": {"user": "user0", "text": "hi"}})
            told = {"event": "told", "payload": {"user": "user0", "text": "hi"}, "from": "user5"}
            self.assertEqual(await recv_json(clients["user0"]), told)
            self.assertEqual(await recv_json(second), told)

        self.arun(go(), timeout=60)


if __name__ == "__main__":
    unittest.main()
