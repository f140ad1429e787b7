// The chat demo (examples/chat): the page, on the JavaScript client (clients/js), served from
// static_dir on the WebSocket's port. Two tabs with two tokens talk through it — driven through
// the page's own controls, as a person would — see who is online and what was said before they
// came, and live through a server restart: with history in memory the page says the room's
// history was reset; with history in Redis (REDIS_URL) the server is killed mid-conversation and
// no message is lost or doubled.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  CHAT_DIR, DISPATCH_BIN, REPO_ROOT, launchBrowser, mintToken, startChatServer, startRedis,
} from "./helpers.mjs";

const CLIENT_BUNDLE = "dispatch-client.browser.js";

test("examples/chat/config.yaml declares presence and history rooms and passes check --strict", () => {
  const chat = fs.readFileSync(path.join(CHAT_DIR, "config.yaml"), "utf8");
  assert.match(chat, /^ {2}static_dir: examples\/chat$/m);
  assert.match(chat, /^ {2}redis: \$\{REDIS_URL:-\}$/m);
  assert.match(chat, /"room:\*": \{ presence: true, history: \{ size: \d+, ttl: \w+ \} \}/);
  // The binary accepts it, run from the repository root as documented, either way.
  for (const REDIS_URL of ["", "redis://127.0.0.1:6379"]) {
    const out = execFileSync(DISPATCH_BIN, ["check", "--strict", "--config", "examples/chat/config.yaml"],
                             { cwd: REPO_ROOT, encoding: "utf8", env: { ...process.env, REDIS_URL } });
    assert.equal(out.trim(), "examples/chat/config.yaml: ok");
  }
});

test("the server serves the chat page and the client bundle from static_dir", { timeout: 30_000 }, async () => {
  assert.ok(fs.existsSync(path.join(CHAT_DIR, CLIENT_BUNDLE)),
            `examples/chat/${CLIENT_BUNDLE} is missing: the build makes it from clients/js ` +
            "(run scripts/setup, or scripts/install-deps then cmake --build build)");
  const server = await startChatServer();
  try {
    for (const [file, type] of [["/", /^text\/html/], ["/index.html", /^text\/html/],
                                ["/chat.js", /javascript/], ["/chat.css", /^text\/css/],
                                [`/${CLIENT_BUNDLE}`, /javascript/]]) {
      const response = await fetch(server.origin + file);
      const body = await response.text();
      assert.equal(response.status, 200, `GET ${file}: ${response.status} ${body}`);
      assert.match(response.headers.get("content-type") ?? "", type, `GET ${file} content-type`);
      const onDisk = fs.readFileSync(path.join(CHAT_DIR, file === "/" ? "index.html" : file), "utf8");
      assert.equal(body, onDisk, `GET ${file} body`);
    }
    assert.equal((await fetch(server.origin + "/no-such-file.js")).status, 404);
  } finally {
    await server.stop();
  }
});

test("the chat page declares its icon, so browsers do not ask for a missing /favicon.ico", { timeout: 30_000 }, async () => {
  const server = await startChatServer();
  let browser;
  try {
    browser = await launchBrowser();
    const page = await browser.newPage();
    const failed = [];
    page.on("response", (response) => {
      if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(server.origin + "/", { waitUntil: "load" });
    const icon = await page.evaluate(() => document.querySelector('link[rel~="icon"]')?.href ?? null);
    assert.ok(icon, "index.html has no <link rel=\"icon\">: browsers then request /favicon.ico (404)");
    if (!icon.startsWith("data:")) {
      const response = await fetch(icon);
      assert.equal(response.status, 200, `the icon ${icon}`);
    }
    assert.deepEqual(failed, [], "no request of the page failed");
  } finally {
    await browser?.close();
    await server.stop();
  }
});

// Waits for a log entry of the chat page whose text contains `text` (event = data-event).
// On a timeout the error shows the page's log.
async function expectEntry(page, event, text, timeout = 10_000) {
  const entry = page.locator(`#log li[data-event="${event}"]`, { hasText: text });
  try {
    await entry.first().waitFor({ timeout });
  } catch (error) {
    const log = await page.locator("#log li").evaluateAll(
      (items) => items.map((item) => `${item.dataset.event}: ${item.querySelector(".text").textContent}`));
    error.message += `\nthe page's log:\n  ${log.join("\n  ")}`;
    throw error;
  }
  return entry.first();
}

// The texts of the page's log entries of one kind, in order.
function entries(page, event) {
  return page.locator(`#log li[data-event="${event}"] .text`).allInnerTexts();
}

// Two tabs of one browser, as a person would open them, with what went wrong on them.
async function openTabs(browser, count) {
  const context = await browser.newContext();
  const tabs = [];
  const problems = [];
  for (let i = 0; i < count; i++) {
    const tab = await context.newPage();
    tab.on("pageerror", (error) => problems.push(error.message));
    tab.on("response", (response) => {
      if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
    });
    tabs.push(tab);
  }
  return { context, tabs, problems };
}

async function waitForOnline(page, text) {
  await page.locator("#online", { hasText: text }).waitFor({ timeout: 10_000 });
}

test("two tabs with two tokens talk, see who is online, and are told a restart lost the history",
     { timeout: 90_000 }, async () => {
  let server = await startChatServer();
  let browser;
  try {
    const alice = mintToken("alice");
    const bob = mintToken("bob");
    browser = await launchBrowser();
    const { context, tabs: [tabA, tabB], problems } = await openTabs(browser, 2);

    // Tab A: paste the token, connect, join room:test-room with the form.
    await tabA.goto(server.origin + "/");
    await tabA.fill("#token", alice);
    await tabA.click("#connect");
    await expectEntry(tabA, "welcome", "Connected as alice");
    await tabA.fill("#room", "test-room");
    await tabA.click("#join");
    await expectEntry(tabA, "joined", "You joined room:test-room");
    await waitForOnline(tabA, "alice (1 connection)");

    // Tab B: the token and room from the URL fragment (connects by itself).
    await tabB.goto(`${server.origin}/#token=${bob}&room=test-room`);
    await expectEntry(tabB, "welcome", "Connected as bob");
    await tabB.click("#join");
    await expectEntry(tabB, "joined", "You joined room:test-room");
    await expectEntry(tabA, "user_joined", "bob joined room:test-room");
    await waitForOnline(tabA, "alice, bob (2 connections)");
    await waitForOnline(tabB, "alice, bob (2 connections)");
    assert.equal(await tabB.locator('#rooms button[data-room="room:test-room"]').count(), 1);

    // A message from A appears in B (text only: markup in it stays text).
    await tabA.fill("#message", "hello bob <b>not bold</b>");
    await tabA.press("#message", "Enter");
    await expectEntry(tabB, "message", "[room:test-room] alice: hello bob <b>not bold</b>");
    await expectEntry(tabA, "message", "[room:test-room] alice: hello bob");
    assert.equal(await tabB.locator("#log b").count(), 0, "message text must not become HTML");

    // And back, then a direct message only alice gets.
    await tabB.fill("#message", "hi alice");
    await tabB.click("#send");
    await expectEntry(tabA, "message", "[room:test-room] bob: hi alice");
    await tabB.fill("#message", "/dm alice psst");
    await tabB.press("#message", "Enter");
    await expectEntry(tabA, "direct", "bob → you (direct): psst");
    await expectEntry(tabB, "direct-sent", "you → alice (direct): psst");

    // History on join: a third user who comes now sees what was said before, then live ones.
    const tabCarol = await context.newPage();
    await tabCarol.goto(`${server.origin}/#token=${mintToken("carol")}&room=test-room`);
    await expectEntry(tabCarol, "welcome", "Connected as carol");
    await tabCarol.click("#join");
    await expectEntry(tabCarol, "joined", "You joined room:test-room (the 2 messages above came before you)");
    assert.deepEqual(await entries(tabCarol, "message"), [
      "[room:test-room] alice: hello bob <b>not bold</b>", "[room:test-room] bob: hi alice"]);
    await waitForOnline(tabA, "alice, bob, carol (3 connections)");
    await tabCarol.close();
    await waitForOnline(tabA, "alice, bob (2 connections)");

    // A restart of a single node (history in memory): both tabs reconnect and rejoin by
    // themselves, and say that the room's history was lost.
    const port = server.port;
    await server.stop();
    const goingAway = await expectEntry(tabA, "close", "Closed 1001: the server is shutting down (going away)");
    assert.match(await goingAway.innerText(), /— reconnecting$/);
    await expectEntry(tabB, "close", "Closed 1001");
    server = await startChatServer({ port });
    for (const tab of [tabA, tabB]) {
      await expectEntry(tab, "reset", "The history of room:test-room was lost", 20_000);
      await tab.locator("#status", { hasText: "connected as" }).waitFor({ timeout: 10_000 });
    }
    await waitForOnline(tabA, "alice, bob (2 connections)");
    await tabB.fill("#message", "still here?");
    await tabB.press("#message", "Enter");
    await expectEntry(tabA, "message", "[room:test-room] bob: still here?");

    // B leaves: A is told, and sees B go from the room's online list.
    await tabB.click("#leave");
    await expectEntry(tabB, "left", "You left room:test-room");
    await expectEntry(tabA, "user_left", "bob left room:test-room");
    await waitForOnline(tabA, "alice (1 connection)");

    // Error frames are shown in words: past the `send` rate limit (20 per 10 s).
    for (let i = 0; i < 25; i++) {
      await tabA.fill("#message", `flood ${i}`);
      await tabA.press("#message", "Enter");
    }
    const limited = await expectEntry(tabA, "error", "Error rate_limited (for send #");
    const limitedText = await limited.innerText();
    assert.equal((limitedText.match(/retry in \d+ ms/g) ?? []).length, 1,
                 `the retry time is said once: ${limitedText}`);

    // A bad token: the browser sees only 1006, and the page says what that usually means.
    const tabC = await context.newPage();
    await tabC.goto(`${server.origin}/#token=not-a-token`);
    const refused = await expectEntry(tabC, "close", "Closed 1006");
    assert.match(await refused.innerText(), /token/);
    // The client retries with backoff; each further failure is one short line.
    await expectEntry(tabC, "close", "Still not connected (1006) — retrying");
    assert.equal(await tabC.locator('#log li[data-event="close"]', { hasText: "Closed 1006" }).count(), 1);

    // Disconnect: the client stops for good.
    await tabA.click("#disconnect");
    await expectEntry(tabA, "close", "Closed 1000: normal close");
    await tabA.locator("#status", { hasText: "closed (1000)" }).waitFor({ timeout: 5_000 });
    assert.deepEqual(problems, [], "no script errors and no failed request on the page");
  } finally {
    await browser?.close();
    await server.stop();
  }
});

test("history in Redis: the server killed and restarted mid-conversation loses no message and doubles none",
     { timeout: 90_000 }, async () => {
  const redis = await startRedis();
  const env = { REDIS_URL: redis.url };
  let server = await startChatServer({ env });
  let browser;
  try {
    browser = await launchBrowser();
    const { tabs: [tabA, tabB], problems } = await openTabs(browser, 2);
    const said = []; // every message sent, in the order the room must show them
    // Sends from a tab; unless `queued`, waits until both tabs show it, so that the next one,
    // perhaps from the other tab, comes after it in the room.
    const say = async (tab, who, text, { queued = false } = {}) => {
      await tab.fill("#message", text);
      await tab.press("#message", "Enter");
      said.push(`[room:redis-room] ${who}: ${text}`);
      if (!queued) for (const t of [tabA, tabB]) await expectEntry(t, "message", `${who}: ${text}`);
    };
    await tabA.goto(`${server.origin}/#token=${mintToken("alice")}&room=redis-room`);
    await tabB.goto(`${server.origin}/#token=${mintToken("bob")}&room=redis-room`);
    for (const tab of [tabA, tabB]) {
      await expectEntry(tab, "welcome", "Connected as");
      await tab.click("#join");
      await expectEntry(tab, "joined", "You joined room:redis-room");
    }
    await waitForOnline(tabA, "alice, bob");

    await say(tabA, "alice", "one");
    await say(tabB, "bob", "two");
    await say(tabA, "alice", "three");

    // Killed: no close frame, no goodbye; Redis keeps the room's history and epoch.
    const port = server.port;
    server.child.kill("SIGKILL");
    await server.exited;
    await expectEntry(tabA, "close", "Closed 1006");
    await expectEntry(tabB, "close", "Closed 1006");
    // Typed while the server is down: the client holds them and sends them once back.
    await say(tabA, "alice", "four (sent while the server was down)", { queued: true });
    await say(tabA, "alice", "five (sent while the server was down)", { queued: true });

    server = await startChatServer({ port, env });
    for (const tab of [tabA, tabB]) {
      await expectEntry(tab, "recovered", "Back in room:redis-room", 20_000);
      await tab.locator("#status", { hasText: "connected as" }).waitFor({ timeout: 10_000 });
    }
    for (const tab of [tabA, tabB]) await expectEntry(tab, "message", "alice: five");
    await say(tabB, "bob", "six");
    await say(tabA, "alice", "seven");

    // Every message once, in the room's order, in both tabs; no reset.
    for (const [tab, name] of [[tabA, "alice"], [tabB, "bob"]]) {
      assert.deepEqual(await entries(tab, "message"), said, `${name}'s tab`);
      assert.deepEqual(await entries(tab, "reset"), [], `${name}'s tab: no reset`);
    }
    assert.deepEqual(problems, [], "no script errors and no failed request on the page");
  } finally {
    await browser?.close();
    await server.stop();
    await redis.stop();
  }
});
