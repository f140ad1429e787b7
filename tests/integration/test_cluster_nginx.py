"""Three Dispatch nodes and one Redis behind Debian's nginx as the WebSocket load balancer, with
the shipped deploy/nginx/dispatch-cluster.conf (its addresses replaced by loopback ones): clients
connect through nginx, land on all three nodes, and chat as on one server — every message reaches
every member exactly once, each sender's in order, and a user's connections on two nodes both get
what is sent to that user. Through nginx's X-Forwarded-For the nodes see each client's own address
(the per-IP limit counts clients, not nginx); when a node dies its clients reconnect through nginx
to the others and the chat goes on. A missing nginx or redis-server fails the test."""

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

import websockets

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


def opened_lines(nodes, ws) -> list:
    """The "connection opened" log lines of `ws` on every node (after a log barrier on each)."""
    for node in nodes:
        node.sync_logs()
    return [line for node in nodes for line in node.logs()
            if line.get("msg") == "connection opened" and line.get("conn_id") == ws.conn_id]


class ChatBehindNginx(DispatchTestCase):
    def start_cluster(self, auth=None):
        """One Redis, three nodes that trust nginx (loopback) as their proxy, nginx in front."""
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        config = free_config(EVENTS, server={"trusted_proxies": [LOCALHOST]}, auth=auth,
                             extra=f"cluster:\n  redis: {self.redis.url}\n")
        nodes = [self.start_server(config) for _ in range(3)]
        nginx = Nginx([node.port for node in nodes])
        self.addCleanup(nginx.stop)
        return nodes, nginx

    def test_a_chat_across_three_nodes_behind_nginx(self):
        nodes, nginx = self.start_cluster()
        self.assertEqual(http_request(nginx.port, "GET", "/healthz").status, 200)
        # Only the WebSocket path and /healthz are passed on; /metrics and /api/* stay private.
        self.assertEqual(http_request(nginx.port, "GET", "/metrics").status, 404)
        self.assertEqual(http_request(nodes[0].port, "GET", "/metrics").status, 200)

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
            # Its node subscribes to the user's channel when the user's first connection there
            # opens; until Redis confirms it, what is published to the user does not reach it
            # (docs/CLUSTER.md). Wait for both nodes to be subscribed.
            deadline = time.monotonic() + 5
            while self.redis.command("PUBSUB", "NUMSUB", "dispatch:user:user0")[1] < 2:
                self.assertLess(time.monotonic(), deadline, "both nodes subscribe to user0")
                await asyncio.sleep(0.02)
            await request(clients["user5"], {"event": "tell", "id": "t",
                                             "payload": {"user": "user0", "text": "hi"}})
            told = {"event": "told", "payload": {"user": "user0", "text": "hi"}, "from": "user5"}
            self.assertEqual(await recv_json(clients["user0"]), told)
            self.assertEqual(await recv_json(second), told)

        self.arun(go(), timeout=60)

    def test_the_nodes_see_each_clients_own_address_through_nginx(self):
        # Clients from their own loopback addresses: nginx connects to the nodes from 127.0.0.1
        # and names the client in X-Forwarded-For, which the nodes take from a trusted proxy.
        nodes, nginx = self.start_cluster(auth={"max_connections_per_ip": 1})

        async def go():
            first = await open_client(nginx.url(), "ip1", local_addr=("127.0.0.21", 0))
            other = await open_client(nginx.url(), "ip2", local_addr=("127.0.0.22", 0))
            self.assertNotEqual(node_of(first), node_of(other))
            for ws, address in ((first, "127.0.0.21"), (other, "127.0.0.22")):
                self.assertEqual([line["client_ip"] for line in opened_lines(nodes, ws)],
                                 [address])
            # One connection per address on the whole cluster: the third node, where nginx sends
            # the next connection, refuses a second one from 127.0.0.21; nginx passes the 429 on.
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as refused:
                await open_client(nginx.url(), "ip3", local_addr=("127.0.0.21", 0))
            self.assertEqual(refused.exception.status_code, 429)

        self.arun(go(), timeout=30)

    def test_when_a_node_dies_its_clients_reconnect_through_nginx_to_the_others(self):
        nodes, nginx = self.start_cluster()

        async def go():
            users = [f"survivor{i}" for i in range(6)]
            clients = {user: await open_client(nginx.url(), user) for user in users}
            for i, ws in enumerate(clients.values()):
                await request(ws, {"event": "join", "target": "hall", "id": i})
            dead = node_of(clients["survivor0"])
            opened = opened_lines(nodes, clients["survivor0"])[0]
            victim = next(node for node in nodes if opened in node.logs())
            victim.kill()
            orphans = [user for user, ws in clients.items() if node_of(ws) == dead]
            self.assertEqual(len(orphans), 2, "least_conn put two of the six on each node")
            for user in orphans:
                await asyncio.wait_for(clients[user].wait_closed(), 5)
                self.assertEqual(clients[user].close_code, 1006, "nginx drops it, no close frame")
                # nginx finds the dead node refusing and passes the handshake to another one
                # (proxy_next_upstream error): the very first reconnect succeeds.
                clients[user] = await open_client(nginx.url(), user)
                self.assertNotEqual(node_of(clients[user]), dead)
                await request(clients[user], {"event": "join", "target": "hall", "id": user})
            await clients["survivor5"].send(json.dumps(
                {"event": "say", "target": "hall", "payload": {"from": "survivor5", "n": 0}}))
            for user, ws in clients.items():
                self.assertEqual((await recv_json(ws, timeout=5))["payload"],
                                 {"from": "survivor5", "n": 0}, user)
            await request(clients["survivor0"], {"event": "say", "target": "hall", "id": "end",
                                                 "payload": {"from": "survivor0", "n": 1}})
            for user, ws in clients.items():  # nothing twice: the next frame is the next message
                if user != "survivor0":
                    self.assertEqual((await recv_json(ws, timeout=5))["payload"],
                                     {"from": "survivor0", "n": 1}, user)

        self.arun(go(), timeout=60)


if __name__ == "__main__":
    unittest.main()
