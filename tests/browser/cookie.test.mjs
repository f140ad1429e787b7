// The third way to bring a session token (SPEC §3): the `session-token` cookie, which a browser
// sends by itself to the same host. The chat page is served via static_dir; the cookie is set
// for that host; the page connects WITHOUT a token in its subprotocols.
import { test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, mintToken, startChatServer, waitFor } from "./helpers.mjs";

test("session-token cookie: the chat page connects without a subprotocol token", { timeout: 55_000 }, async () => {
  const server = await startChatServer();
  let browser;
  try {
    const carol = mintToken("carol");
    browser = await launchBrowser();
    const context = await browser.newContext();
    await context.addCookies([{ name: "session-token", value: carol, url: server.origin + "/" }]);
    const page = await context.newPage();
    await page.goto(server.origin + "/");

    // The page's own controls, token field left empty: subprotocols ["dispatch.v1"] only.
    assert.equal(await page.inputValue("#token"), "");
    await page.click("#connect");
    await page.locator('#log li[data-event="welcome"]', { hasText: "Connected as carol" })
      .waitFor({ timeout: 10_000 });

    // A plain script on the page: no subprotocols at all, and ["dispatch.v1"] alone.
    const welcomes = await page.evaluate(async () => {
      const open = (protocols) => new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://${location.host}/ws`, protocols);
        const timer = setTimeout(() => reject(new Error("no welcome within 5 s")), 5_000);
        ws.onmessage = (e) => {
          clearTimeout(timer);
          ws.close();
          resolve({ protocol: ws.protocol, frame: JSON.parse(e.data) });
        };
        ws.onclose = (e) => reject(new Error(`closed ${e.code} ${e.reason}`));
      });
      return [await open(undefined), await open(["dispatch.v1"])];
    });
    assert.equal(welcomes[0].protocol, "");
    assert.equal(welcomes[1].protocol, "dispatch.v1");
    for (const { frame } of welcomes) {
      assert.equal(frame.event, "welcome");
      assert.equal(frame.payload.user_id, "carol");
    }

    // An explicit token beats the ambient cookie (SPEC §3: the cookie comes last).
    const dave = mintToken("dave");
    const explicit = await page.evaluate(async (token) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${location.host}/ws`, ["dispatch.v1", `bearer.${token}`]);
      ws.onmessage = (e) => { ws.close(); resolve(JSON.parse(e.data)); };
      ws.onclose = (e) => reject(new Error(`closed ${e.code} ${e.reason}`));
    }), dave);
    assert.equal(explicit.payload.user_id, "dave");

    // Without the cookie (a fresh context) and without a token: refused, shown as 1006.
    const bare = await (await browser.newContext()).newPage();
    await bare.goto(server.origin + "/");
    await bare.click("#connect");
    await bare.locator('#log li[data-event="close"]', { hasText: "Closed 1006" }).waitFor({ timeout: 10_000 });
    // Log lines reach stdout through the server's writer thread: wait for it, bounded.
    await waitFor(() => /missing_token/.test(server.output()), {
      describe: () => `the server log naming the refusal (missing_token):\n${server.output()}`,
    });
  } finally {
    await browser?.close();
    await server.stop();
  }
});
