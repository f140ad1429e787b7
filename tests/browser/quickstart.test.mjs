// The README's quick start, as a user does it: `dispatch` with no config (the embedded
// development config), `dispatch token --sub alice`, then the browser-console snippet of
// README.md (its quick start) pasted VERBATIM into the console of the page the docs name. The
// only edits are the ones the docs ask for: the token in place of PASTE-YOUR-TOKEN-HERE, and —
// as the README says for a machine where 8080 is taken — another port: the server runs as
// `dispatch --address 127.0.0.1:0` (any free port, so the test runs while something else
// listens on 8080) and that port replaces 8080. The snippet is read from the Markdown, so the
// docs and this test cannot drift apart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import {
  TOKEN_PLACEHOLDER, freePort, launchBrowser, listeningPort, makeTempDir, mintToken,
  quickstartSnippet, startServer, waitFor,
} from "./helpers.mjs";

// The address the README's snippet and the embedded development config use.
const README_ADDRESS = "127.0.0.1:8080";

// Pastes `code` into the page's DevTools console: Runtime.evaluate in REPL mode, what the
// console itself does (top-level const/let, then further pastes may redeclare them).
async function pasteIntoConsole(page, code) {
  const cdp = await page.context().newCDPSession(page);
  const result = await cdp.send("Runtime.evaluate", {
    expression: code, replMode: true, includeCommandLineAPI: true, awaitPromise: true,
  });
  assert.equal(result.exceptionDetails, undefined,
               `the snippet threw: ${JSON.stringify(result.exceptionDetails)}`);
}

// Records the page's console.log calls as arrays of their arguments' JSON values, in order.
// Other console lines (the browser's own errors, e.g. the 404 of the page itself or a blocked
// connection) go to `others`, for the failure message.
function recordConsole(page) {
  const pending = [];
  const others = [];
  page.on("console", (message) => {
    if (message.type() !== "log") {
      others.push(`${message.type()}: ${message.text()}`);
      return;
    }
    pending.push(Promise.all(message.args().map((arg) => arg.jsonValue().catch(() => String(arg)))));
  });
  const logged = async () => Promise.all(pending);
  logged.others = others;
  return logged;
}

async function runSnippetOn(browser, url, token, server) {
  const snippet = quickstartSnippet();
  assert.equal(snippet.split(TOKEN_PLACEHOLDER).length, 2,
               `the snippet must hold ${TOKEN_PLACEHOLDER} exactly once`);
  assert.equal(snippet.split(README_ADDRESS).length, 2,
               `the snippet must hold ${README_ADDRESS} exactly once`);
  const page = await browser.newPage();
  try {
    await page.goto(url);
    const logged = recordConsole(page);
    await pasteIntoConsole(page, snippet.replace(TOKEN_PLACEHOLDER, token)
                                        .replace(README_ADDRESS, `127.0.0.1:${server.port}`));

    const received = async () => (await logged()).filter((a) => a[0] === "received").map((a) => a[1]);
    await waitFor(async () => (await received()).some((f) => f.event === "ack" && f.payload?.ref === 2), {
      ms: 10_000,
      describe: () => `the ack of the snippet's message on ${url}; other console lines:\n` +
                      `${logged.others.join("\n")}\nserver log:\n${server.output()}`,
    });
    const lines = await logged();
    const frames = await received();
    assert.deepEqual(lines[0], ["connected"], `first console line on ${url}`);
    assert.ok(!lines.some((a) => a[0] === "closed"), `closed early: ${JSON.stringify(lines)}`);

    const welcome = frames[0];
    assert.equal(welcome.event, "welcome");
    assert.equal(welcome.payload.user_id, "alice");
    assert.match(welcome.payload.server, /^dispatch\//);
    assert.ok(welcome.payload.conn_id);

    const joined = frames.find((f) => f.event === "joined");
    assert.deepEqual(joined, { event: "joined", payload: { room: "room:lobby" }, ref: 1 });
    assert.ok(frames.some((f) => f.event === "user_joined" && f.payload.user === "alice" &&
                                 f.room === "room:lobby"));
    const message = frames.find((f) => f.event === "message");
    assert.deepEqual(message, {
      event: "message",
      payload: { user: "alice", text: "Hello from the browser!" },
      room: "room:lobby",
      from: "alice",
    });
    assert.ok(!frames.some((f) => f.event === "error"), `errors: ${JSON.stringify(frames)}`);
    // The frames in the order the README shows them.
    assert.deepEqual(frames.map((f) => f.event),
                     ["welcome", "joined", "user_joined", "ack", "message", "ack"]);
  } finally {
    await page.close();
  }
}

test("README quick start: dispatch with no config, token, console snippet", { timeout: 55_000 }, async (t) => {
  // A working directory without config.yaml or .env: the embedded development config.
  const cwd = makeTempDir("dispatch-quickstart-");
  const server = await startServer({ args: ["--address", "127.0.0.1:0"], cwd });
  let browser;
  try {
    assert.match(server.output(), /embedded DEVELOPMENT config/i, "the loud development warning");
    assert.match(server.output(), /"msg":"listening","address":"127\.0\.0\.1"/);
    server.port = listeningPort(server);
    const token = mintToken("alice", { cwd });

    browser = await launchBrowser();
    // The page the README tells the user to open (whatever the server answers there), on the
    // server's port. (Not about:blank: Chromium's Local Network Access checks block a connection
    // from an opaque origin to 127.0.0.1, net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS.)
    const home = `http://127.0.0.1:${server.port}/`;
    await t.test(`from ${home} (the README's http://${README_ADDRESS}/)`, () =>
      runSnippetOn(browser, home, token, server));

    // A page of another origin on this machine (another port): works because the embedded
    // config allows "*".
    const page = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>some other site</title><p>another origin</p>");
    });
    page.listen(await freePort(), "127.0.0.1");
    await once(page, "listening");
    try {
      const url = `http://127.0.0.1:${page.address().port}/`;
      await t.test("from a page of another origin", () => runSnippetOn(browser, url, token, server));
    } finally {
      page.close();
    }
  } finally {
    await browser?.close();
    const { code, signal } = await server.stop();
    fs.rmSync(cwd, { recursive: true, force: true });
    assert.equal(code, 0, `dispatch stopped with code ${code}, signal ${signal}:\n${server.output()}`);
  }
});
