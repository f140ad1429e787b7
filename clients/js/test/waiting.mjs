// What the end-to-end tests wait for: a client's next event, its events as a list, a condition
// (polled, bounded). Clients made with `makeClient` use short reconnect delays and are listed
// for closing at the end.
import WebSocket from "ws";
import { DispatchClient } from "../dist/index.js";

export const fast = { WebSocket, minDelay: 100, maxDelay: 400, delayFloor: 50 };

/** A function making clients with `fast` delays, each pushed onto `clients`. */
export function makeClient(clients) {
  return (url, options) => {
    const c = new DispatchClient(url, { ...fast, ...options });
    clients.push(c);
    return c;
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The arguments of the client's next `event`, or a rejection after `ms`. */
export function next(c, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${event} within ${ms} ms`)); }, ms);
    const off = c.on(event, (...args) => { clearTimeout(timer); off(); resolve(args); });
  });
}

/** Messages of `event` a client receives, as a list the test reads. */
export function collect(c, event) {
  const got = [];
  c.on(event, (payload, frame) => got.push({ payload, frame }));
  return got;
}

/** Resolves once `predicate()` (sync or async) is truthy; rejects after `ms`. */
export async function until(predicate, ms = 5000, what = "condition") {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}
