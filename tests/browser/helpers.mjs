// Shared helpers of the browser tests: start the real `dispatch` binary, mint tokens with it,
// launch Debian's Chromium through playwright-core (no browser download), read the README's
// quick start snippet.
import { spawn, execFileSync } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DISPATCH_BIN = process.env.DISPATCH_BIN || path.join(REPO_ROOT, "build/dispatch");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const CHAT_DIR = path.join(REPO_ROOT, "examples/chat");
export const QUICKSTART_MD = path.join(REPO_ROOT, "README.md");
export const TOKEN_PLACEHOLDER = "PASTE-YOUR-TOKEN-HERE";

// Flags from shared/DEBIAN-NOTES.md (playwright adds --headless and a fresh --user-data-dir).
const CHROMIUM_FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

let chromiumApi = null;
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: run scripts/install-deps (Debian package chromium)`);
  }
  if (!chromiumApi) {
    try {
      ({ chromium: chromiumApi } = await import("playwright-core"));
    } catch (error) {
      throw new Error(`playwright-core is not installed: run scripts/install-deps ` +
                      `(npm ci --prefix tests/browser): ${error.message}`);
    }
  }
  return chromiumApi.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    timeout: 30_000,
  });
}

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

// Starts `dispatch` with `args` in `cwd` and resolves once it logs "listening".
// Rejects (with the server's output) if it exits first or does not listen within 10 s.
export async function startServer({ args = [], cwd = REPO_ROOT, env = {} } = {}) {
  const child = spawn(DISPATCH_BIN, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let output = "";
  const server = {
    child,
    output: () => output,
    exited: once(child, "exit").then(([code, signal]) => {
      children.delete(child);
      return { code, signal };
    }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await server.exited;
        clearTimeout(timer);
      }
      return server.exited;
    },
  };
  const listening = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      if (/"msg":"listening"/.test(output)) resolve();
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", (chunk) => { output += chunk; });
    child.on("error", reject);
    server.exited.then(({ code, signal }) =>
      reject(new Error(`dispatch exited (code ${code}, signal ${signal}) before listening:\n${output}`)));
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`dispatch did not listen within 10 s:\n${output}`)), 10_000);
  });
  try {
    await Promise.race([listening, timeout]);
  } catch (error) {
    await server.stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return server;
}

// `dispatch token --sub <sub> [extra...]`, run in `cwd` (no config there: the embedded dev secret).
export function mintToken(sub, { cwd = os.tmpdir(), extra = [] } = {}) {
  return execFileSync(DISPATCH_BIN, ["token", "--sub", sub, ...extra], { cwd, encoding: "utf8" }).trim();
}

export async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

export function makeTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// The port a started server reports in its "listening" log line.
export function listeningPort(server) {
  const listening = server.output().match(/"msg":"listening","address":"[^"]*","port":(\d+)/);
  if (!listening) throw new Error(`no "listening" line with a port:\n${server.output()}`);
  return Number(listening[1]);
}

// Starts the chat demo (examples/chat/config.yaml as it stands, served from the repo root as
// documented: its static_dir is relative) on `port` (default: a free one), given with --address.
// `env` adds environment variables (REDIS_URL: history in Redis).
export async function startChatServer({ port = 0, env = {} } = {}) {
  const config = path.join(CHAT_DIR, "config.yaml");
  const server = await startServer({
    args: ["serve", "--config", config, "--address", `127.0.0.1:${port}`], cwd: REPO_ROOT,
    env: { REDIS_URL: "", ...env },
  });
  server.port = listeningPort(server);
  server.origin = `http://127.0.0.1:${server.port}`;
  return server;
}

// Starts Debian's redis-server on a free loopback port, without persistence; resolves once it
// answers PING. A missing redis-server fails (scripts/install-deps installs it).
export async function startRedis() {
  const binary = process.env.REDIS_SERVER || "/usr/bin/redis-server";
  if (!fs.existsSync(binary)) {
    throw new Error(`${binary} not found: run scripts/install-deps (Debian package redis-server)`);
  }
  const port = await freePort();
  const child = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => { output += chunk; });
  child.stderr.setEncoding("utf8").on("data", (chunk) => { output += chunk; });
  const exited = once(child, "exit").then(() => children.delete(child));
  const ping = () => new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let answer = "";
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      answer += chunk;
      if (answer.includes("\r\n")) socket.end();
    });
    socket.on("close", () => resolve(answer.startsWith("+PONG")));
    socket.on("error", () => {});
  });
  await waitFor(async () => child.exitCode === null && await ping(), {
    describe: () => `redis-server on port ${port} answering PING:\n${output}`,
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

// The one ```js block of README.md: its quick start browser-console snippet.
export function quickstartSnippet() {
  const markdown = fs.readFileSync(QUICKSTART_MD, "utf8");
  const blocks = [...markdown.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  if (blocks.length !== 1) throw new Error(`${QUICKSTART_MD}: expected exactly one \`\`\`js block, found ${blocks.length}`);
  return blocks[0];
}

// Resolves when predicate() is truthy, polling every 50 ms; rejects after `ms` with describe().
export async function waitFor(predicate, { ms = 10_000, describe = () => "" } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting: ${describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
