// The README's complete chat page, run for real: its inline script with the browser bundle in
// a vm context (a small DOM stand-in, `ws` as the WebSocket), against dispatch with the chat
// demo's config (examples/chat/config.yaml) as the README says.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import vm from "node:vm";
import WebSocket from "ws";
import { DispatchClient } from "../dist/index.js";
import { startDispatch, signJwt } from "./server.mjs";

const root = new URL("../../../", import.meta.url);
const readme = fs.readFileSync(new URL("clients/js/README.md", root), "utf8");
const bundle = fs.readFileSync(new URL("clients/js/dist/dispatch-client.browser.js", root), "utf8");
const chatConfig = fs.readFileSync(new URL("examples/chat/config.yaml", root), "utf8");
const devSecret = chatConfig.match(/secret: "([^"]+)"/)[1];

async function until(predicate, ms, what) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("the README's chat page joins, sends and shows messages", async () => {
  const blocks = [...readme.matchAll(/^```html\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  assert.equal(blocks.length, 1, "one ```html block");
  assert.ok(blocks[0].split("\n").length < 40, "under 40 lines");
  const script = blocks[0].match(/<script>\n([\s\S]*?)<\/script>/)[1];
  assert.match(blocks[0], /<script src="dispatch-client.browser.js"><\/script>/);

  const config = chatConfig.replace(/address: "127\.0\.0\.1:8080"/, 'address: "127.0.0.1:${PORT}"').replace(/^\s*static_dir:.*$/m, "");
  const server = await startDispatch(config);
  const token = (sub) => signJwt({ sub, exp: Math.floor(Date.now() / 1000) + 3600 }, devSecret);
  const elements = {
    status: { textContent: "offline" },
    log: { items: [], append(li) { this.items.push(li.textContent); } },
    form: { onsubmit: null },
    text: { value: "" },
  };
  const window = {
    WebSocket, setTimeout, clearTimeout, TextDecoder, atob, URLSearchParams, console,
    location: { search: `?token=${token("alice")}`, origin: `http://127.0.0.1:${server.port}` },
    prompt: () => { throw new Error("prompt() called: the token in the URL was not used"); },
    document: {
      getElementById: (id) => elements[id],
      createElement: () => ({ textContent: "" }),
    },
  };
  window.window = window;
  const context = vm.createContext(window);
  vm.runInContext(bundle, context);
  vm.runInContext(script, context);
  const bob = new DispatchClient(server.url, { WebSocket, getToken: () => token("bob") });
  after(async () => { await vm.runInContext("client.close()", context); await bob.close(); await server.stop(); });

  await until(() => elements.status.textContent === "open", 5000, "status open");
  await until(() => elements.log.items.includes("alice joined"), 5000, "alice joined");
  await bob.connect();
  await bob.send("join", { target: "room:lobby" });
  elements.text.value = "hello bob";
  await elements.form.onsubmit({ preventDefault() {} });
  assert.equal(elements.text.value, "", "the input is cleared once sent");
  await bob.send("send", { target: "room:lobby", payload: { text: "hi alice" } });
  await until(() => elements.log.items.includes("bob: hi alice"), 5000, "bob's message");
  assert.deepEqual(elements.log.items, ["alice joined", "bob joined", "alice: hello bob", "bob: hi alice"]);
});
