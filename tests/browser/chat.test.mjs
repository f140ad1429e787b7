// The chat demo (examples/chat): its config is the embedded development config plus
// server.static_dir, the server serves the page on the WebSocket's port, and two tabs with two
// tokens talk through it — driven through the page's own controls, as a person would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  CHAT_DIR, DISPATCH_BIN, REPO_ROOT, launchBrowser, mintToken, startChatServer,
} from "./helpers.mjs";

// The embedded development config, as compiled into the binary.
function embeddedConfig() {
  const header = fs.readFileSync(path.join(REPO_ROOT, "src/app/default_config.h"), "utf8");
  const match = /development_config = R"yaml\(([\s\S]*?)\)yaml"/.exec(header);
  assert.ok(match, "src/app/default_config.h: no development_config raw string");
  return match[1];
}

const withoutComments = (yaml) =>
  yaml.split("\n").filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#")).join("\n");

test("examples/chat/config.yaml is the embedded config plus server.static_dir", () => {
  const chat = fs.readFileSync(path.join(CHAT_DIR, "config.yaml"), "utf8");
  const staticLine = /^  static_dir: examples\/chat\n/m;
  assert.match(chat, staticLine);
  assert.equal(withoutComments(chat.replace(staticLine, "")), withoutComments(embeddedConfig()));
  // And the binary accepts it, run from the repository root as documented.
  const out = execFileSync(DISPATCH_BIN, ["check", "--config", "examples/chat/config.yaml"],
                           { cwd: REPO_ROOT, encoding: "utf8" });
  assert.ok(out !== undefined);
});

test("the server serves the chat page from static_dir on the WebSocket port", { timeout: 30_000 }, async () => {
  const server = await startChatServer();
  try {
    for (const [file, type] of [["/", /^text\/html/], ["/index.html", /^text\/html/],
                                ["/chat.js", /javascript/], ["/chat.css", /^text\/css/]]) {
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
async function expectEntry(page, event, text) {
  const entry = page.locator(`#log li[data-event="${event}"]`, { hasText: text });
  await entry.first().waitFor({ timeout: 10_000 });
  return entry.first();
}

test("two tabs with two tokens talk through the chat page", { timeout: 55_000 }, async () => {
  const server = await startChatServer();
  let browser;
  try {
    const alice = mintToken("alice");
    const bob = mintToken("bob");
    browser = await launchBrowser();
    // Two tabs of one browser, as a person would open them.
    const context = await browser.newContext();
    const tabA = await context.newPage();
    const tabB = await context.newPage();
    const problems = [];
    const failedRequests = [];
    for (const tab of [tabA, tabB]) {
      tab.on("pageerror", (error) => problems.push(error.message));
      tab.on("response", (response) => {
        if (response.status() >= 400) failedRequests.push(`${response.status()} ${response.url()}`);
      });
    }

    // Tab A: paste the token, connect, join room:test-room with the form.
    await tabA.goto(server.origin + "/");
    await tabA.fill("#token", alice);
    await tabA.click("#connect");
    await expectEntry(tabA, "welcome", "Connected as alice");
    await tabA.fill("#room", "test-room");
    await tabA.click("#join");
    await expectEntry(tabA, "joined", "You joined room:test-room");

    // Tab B: the token and room from the URL fragment (connects by itself).
    await tabB.goto(`${server.origin}/#token=${bob}&room=test-room`);
    await expectEntry(tabB, "welcome", "Connected as bob");
    await tabB.click("#join");
    await expectEntry(tabB, "joined", "You joined room:test-room");
    await expectEntry(tabA, "user_joined", "bob joined room:test-room");

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

    // B leaves: A is told.
    await tabB.click("#leave");
    await expectEntry(tabB, "left", "You left room:test-room");
    await expectEntry(tabA, "user_left", "bob left room:test-room");

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

    // Server shutdown: both tabs show 1001 "going away" in words.
    await server.stop();
    await expectEntry(tabA, "close", "Closed 1001: the server is shutting down (going away)");
    await expectEntry(tabB, "close", "Closed 1001");
    assert.equal(await tabA.locator("#status").innerText(), "closed (1001)");
    assert.deepEqual(problems, [], "no script errors on the page");
    assert.deepEqual(failedRequests, [], "no request of the page failed (e.g. /favicon.ico)");
  } finally {
    await browser?.close();
    await server.stop();
  }
});
