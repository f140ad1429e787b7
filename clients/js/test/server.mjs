// Runs the real `dispatch` binary for the end-to-end tests: DISPATCH_BIN names it (a missing
// binary fails the test, it never skips). Tokens are signed here with node's crypto (HS256).
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import { once } from "node:events";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const SECRET = "js-client-test-secret-0123456789abcdef";

export function dispatchBin() {
  const bin = process.env.DISPATCH_BIN;
  if (!bin) throw new Error("DISPATCH_BIN is not set: point it at the dispatch binary (e.g. DISPATCH_BIN=$PWD/build/dispatch npm test --prefix clients/js)");
  if (!fs.existsSync(bin)) throw new Error(`DISPATCH_BIN=${bin} does not exist: build dispatch first`);
  return bin;
}

export function signJwt(claims, secret = SECRET) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${input}.${crypto.createHmac("sha256", secret).update(input).digest("base64url")}`;
}

/** A token for `sub` that expires in `seconds` (default one hour). */
export function token(sub, seconds = 3600) {
  return signJwt({ sub, exp: Math.floor(Date.now() / 1000) + seconds });
}

export async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

const children = new Set();
process.on("exit", () => { for (const c of children) c.kill("SIGKILL"); });

/** Starts dispatch with `configText` (its ${PORT} replaced by a free port, kept across restart()). */
export async function startDispatch(configText, { port } = {}) {
  const bin = dispatchBin();
  port = port ?? await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dispatch-js-"));
  const config = path.join(dir, "config.yaml");
  fs.writeFileSync(config, configText.replaceAll("${PORT}", String(port)));
  const server = {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    child: null,
    output: "",
    async start() {
      const child = spawn(bin, ["serve", "--config", config], {
        cwd: dir, env: { ...process.env, DISPATCH_JWT_SECRET: SECRET }, stdio: ["ignore", "pipe", "pipe"],
      });
      children.add(child);
      server.child = child;
      server.exited = once(child, "exit").then(() => children.delete(child));
      child.stdout.setEncoding("utf8").on("data", (d) => { server.output += d; });
      child.stderr.setEncoding("utf8").on("data", (d) => { server.output += d; });
      const deadline = Date.now() + 10_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`dispatch exited (${child.exitCode}) before it was ready:\n${server.output}`);
        try {
          const res = await fetch(`http://127.0.0.1:${port}/readyz`);
          if (res.status === 200) return server;
        } catch { /* not listening yet */ }
        if (Date.now() > deadline) throw new Error(`dispatch not ready within 10 s:\n${server.output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const child = server.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await server.exited;
      clearTimeout(timer);
    },
    async restart() { await server.stop(); await server.start(); },
  };
  return server.start();
}

/** A TCP proxy on 127.0.0.1 in front of `port` whose connections the test can cut (the client
 *  sees the connection lost, 1006, while the server keeps running). `target` is the port new
 *  connections go to: set it to send the next connection elsewhere (another cluster node), or
 *  to null to drop new connections at once (the client stays away until it is set again). */
export async function cuttableProxy(port) {
  const sockets = new Set();
  let result;
  const proxy = net.createServer((inbound) => {
    if (result.target == null) { inbound.destroy(); return; }
    const outbound = net.connect(result.target, "127.0.0.1");
    sockets.add(inbound); sockets.add(outbound);
    inbound.pipe(outbound); outbound.pipe(inbound);
    const end = () => { inbound.destroy(); outbound.destroy(); sockets.delete(inbound); sockets.delete(outbound); };
    inbound.on("error", end); outbound.on("error", end); inbound.on("close", end); outbound.on("close", end);
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  result = {
    target: port,
    url: `ws://127.0.0.1:${proxy.address().port}/ws`,
    cut() { for (const s of sockets) s.destroy(); sockets.clear(); },
    async close() { this.cut(); await new Promise((r) => proxy.close(r)); },
  };
  return result;
}

/** Sends one command to the Redis on 127.0.0.1:`port` over a raw socket (RESP) and resolves
 *  with its reply's first line (e.g. "+PONG", ":2"); rejects on error or after `ms`. */
export function redisCommand(port, args, ms = 2000) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let reply = "";
    const done = (error, value) => { clearTimeout(timer); socket.destroy(); error ? reject(error) : resolve(value); };
    const timer = setTimeout(() => done(new Error(`redis ${args[0]}: no reply within ${ms} ms`)), ms);
    socket.on("error", (e) => done(e));
    socket.on("connect", () => {
      socket.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join(""));
    });
    socket.setEncoding("utf8").on("data", (d) => {
      reply += d;
      const end = reply.indexOf("\r\n");
      if (end >= 0) done(null, reply.slice(0, end));
    });
  });
}

/** Starts Debian's `redis-server` (REDIS_SERVER_BIN, default /usr/bin/redis-server) on a free
 *  127.0.0.1 port (or `port`) without persistence; resolves once it answers PING. A missing
 *  binary fails (it never skips). stop() kills it (SIGKILL) and waits for the exit; restart()
 *  kills it and starts an empty one on the same port (all data lost). */
export async function startRedis({ port } = {}) {
  const bin = process.env.REDIS_SERVER_BIN ?? "/usr/bin/redis-server";
  if (!fs.existsSync(bin)) {
    throw new Error(`redis-server not found at ${bin}: install Debian's redis-server (apt-get install redis-server) or set REDIS_SERVER_BIN`);
  }
  port = port ?? await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dispatch-js-redis-"));
  const child = spawn(bin, ["--save", "", "--appendonly", "no", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir], {
    cwd: dir, stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    child,
    output: "",
    exited: once(child, "exit").then(() => children.delete(child)),
    command: (...args) => redisCommand(port, args),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await redis.exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await redis.stop();
      return startRedis({ port });
    },
  };
  child.stdout.setEncoding("utf8").on("data", (d) => { redis.output += d; });
  child.stderr.setEncoding("utf8").on("data", (d) => { redis.output += d; });
  let spawnError = null;
  child.on("error", (e) => { spawnError = e; });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (spawnError) { children.delete(child); throw new Error(`cannot run redis-server (${bin}): ${spawnError.message}`); }
    if (child.exitCode !== null) await redis.stop(); // removes its directory
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}) before it answered PING:\n${redis.output}`);
    try {
      if (await redisCommand(port, ["PING"], 500) === "+PONG") return redis;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { await redis.stop(); throw new Error(`redis-server did not answer PING within 10 s:\n${redis.output}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
}
