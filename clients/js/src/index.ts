// dispatch-client: the JavaScript client of the Dispatch WebSocket server.
// No runtime dependencies; runs in browsers and Node 18+ (pass `WebSocket` from the `ws`
// package where there is no global one). See README.md for the reference.

/** The part of the WebSocket API the client uses (browsers' WebSocket, the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol?: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export type State = "connecting" | "open" | "reconnecting" | "closed";

export interface Position { offset: number; epoch: string }

/** What `since` asks per room: recover from a position, or get the room's last `last` messages
 *  (history on a first join). */
export type Since = Position | { last: number };

export interface Frame {
  event: string;
  payload: any;
  room?: string;
  from?: string;
  ref?: number | string | null;
  offset?: number;
  epoch?: string;
  [key: string]: unknown;
}

export interface SendOptions {
  target?: string;
  payload?: unknown;
  /** Remember this message and send it again after every reconnect (e.g. a room join). */
  rejoin?: boolean;
  /** Sent as the top-level `since` key; rejoins fill it in themselves from tracked positions. */
  since?: Record<string, Since>;
  /** Ack timeout for this message in ms (default: the client's `ackTimeout`). */
  timeout?: number;
}

export interface DispatchClientOptions {
  /** Returns the JWT (sync or async); called before every connect and for every refresh. */
  getToken?: () => string | Promise<string>;
  /** WebSocket constructor; default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** ms to wait for an `ack`/`error` before rejecting with code `timeout` (default 10000). */
  ackTimeout?: number;
  /** Backoff base in ms (default 500): delay = random(0, min(maxDelay, minDelay * 2^attempt)). */
  minDelay?: number;
  /** Backoff cap in ms (default 30000). */
  maxDelay?: number;
  /** Floor of every reconnect delay in ms (default 100). */
  delayFloor?: number;
  /** A connection that got `welcome` and stayed open this long resets the backoff (default 5000). */
  stableAfter?: number;
  /** Sends held while not open (default 100); beyond, `send` rejects with `queue_full`. */
  queueLimit?: number;
  /** Refresh the token over `_refresh` before it expires (default true). */
  refresh?: boolean;
  /** Refresh at this fraction of the token's remaining life (default 0.8)… */
  refreshRatio?: number;
  /** …and at least this many ms before `exp` (default 5000). */
  refreshLeadMs?: number;
  /** Random source in [0, 1) for the jitter (default Math.random). */
  random?: () => number;
}

/** Close codes after which the client does not reconnect. */
export const FINAL_CLOSE_CODES: readonly number[] = [4001, 4003, 4403, 1008];

export interface DispatchErrorFields {
  ref?: number | string | null;
  event?: string | null;
  retryAfterMs?: number;
  path?: string;
  rule?: string;
  field?: string;
  closeCode?: number;
  payload?: unknown;
}

/** A refused or failed `send` (or connection): `code` is the server's error code, or one of the
 *  client's own: `timeout`, `disconnected`, `closed`, `queue_full`, `token`. */
export class DispatchError extends Error {
  code: string;
  ref: number | string | null;
  event: string | null;
  retryAfterMs?: number;
  path?: string;
  rule?: string;
  field?: string;
  closeCode?: number;
  payload?: unknown;

  constructor(code: string, message: string, fields: DispatchErrorFields = {}) {
    super(message);
    this.name = "DispatchError";
    this.code = code;
    this.ref = fields.ref ?? null;
    this.event = fields.event ?? null;
    if (fields.retryAfterMs !== undefined) this.retryAfterMs = fields.retryAfterMs;
    if (fields.path !== undefined) this.path = fields.path;
    if (fields.rule !== undefined) this.rule = fields.rule;
    if (fields.field !== undefined) this.field = fields.field;
    if (fields.closeCode !== undefined) this.closeCode = fields.closeCode;
    if (fields.payload !== undefined) this.payload = fields.payload;
  }

  /** From an `error` frame's payload. */
  static fromPayload(p: any): DispatchError {
    p = p && typeof p === "object" ? p : {};
    return new DispatchError(String(p.code ?? "internal"), String(p.message ?? p.code ?? "error"), {
      ref: p.ref, event: p.event, retryAfterMs: p.retry_after_ms, path: p.path, rule: p.rule,
      field: p.field, payload: p,
    });
  }
}

/** The `exp` claim (seconds) of a JWT, read without verification; null when there is none. */
export function jwtExp(token: string): number | null {
  try {
    const part = token.split(".")[1];
    if (!part) return null;
    let b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims.exp === "number" ? claims.exp : null;
  } catch {
    return null;
  }
}

type Handler = (...args: any[]) => void;

interface Outgoing {
  event: string;
  target?: string;
  payload?: unknown;
  since?: Record<string, Since>;
  rejoin: boolean;
  timeout: number;
  internal?: "rejoin" | "refresh";
  resolve: (value: any) => void;
  reject: (error: DispatchError) => void;
  timer?: ReturnType<typeof setTimeout>;
}

interface Rejoin { event: string; target?: string; payload?: unknown }

const OPEN = 1;

export class DispatchClient {
  readonly url: string;
  private opts: Required<Omit<DispatchClientOptions, "getToken" | "WebSocket">>;
  private getToken?: () => string | Promise<string>;
  private WS: WebSocketConstructor;
  private ws: WebSocketLike | null = null;
  private _state: State = "closed";
  private started = false;        // connect() called and close() not since
  private ended = false;          // closed for good (close() or a final close code)
  private everOpen = false;
  private attempt = 0;
  private nextId = 1;
  private token: string | null = null;
  private pending = new Map<number, Outgoing>();
  private queue: Outgoing[] = [];
  private rejoins = new Map<string, Rejoin>();
  private positions = new Map<string, Position>();
  private handlers = new Map<string, Set<Handler>>();
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private stableTimer?: ReturnType<typeof setTimeout>;
  private refreshTimer?: ReturnType<typeof setTimeout>;
  private connectWaiters: { resolve: (w: any) => void; reject: (e: DispatchError) => void }[] = [];
  private closeWaiters: (() => void)[] = [];
  private welcomePayload: any = null;

  constructor(url: string, options: DispatchClientOptions = {}) {
    this.url = url;
    const WS = options.WebSocket ?? (globalThis as any).WebSocket;
    if (typeof WS !== "function") {
      throw new TypeError(
        "DispatchClient: no WebSocket implementation: this runtime has no global WebSocket " +
        "(Node < 22); pass one, e.g. new DispatchClient(url, { WebSocket }) with WebSocket from the \"ws\" package");
    }
    this.WS = WS;
    this.getToken = options.getToken;
    this.opts = {
      ackTimeout: options.ackTimeout ?? 10_000,
      minDelay: options.minDelay ?? 500,
      maxDelay: options.maxDelay ?? 30_000,
      delayFloor: options.delayFloor ?? 100,
      stableAfter: options.stableAfter ?? 5_000,
      queueLimit: options.queueLimit ?? 100,
      refresh: options.refresh ?? true,
      refreshRatio: options.refreshRatio ?? 0.8,
      refreshLeadMs: options.refreshLeadMs ?? 5_000,
      random: options.random ?? Math.random,
    };
  }

  /** `connecting` (first connect), `open` (after `welcome`), `reconnecting`, `closed`. */
  get state(): State { return this._state; }

  /** The last position (offset, epoch) seen in a room with history, if any. */
  position(room: string): Position | undefined {
    const p = this.positions.get(room);
    return p ? { ...p } : undefined;
  }

  /** Stop re-sending the rejoin(s) for this target (e.g. after leaving the room). */
  forget(target: string): void {
    for (const [key, r] of this.rejoins) if (r.target === target) this.rejoins.delete(key);
    this.positions.delete(target);
  }

  // ---- events ----

  /** Server frames by event name: handler(payload, frame). Client events start with `$`:
   *  `$state` (state, old), `$disconnected` ({code, reason, willReconnect}), `$reconnecting`
   *  ({attempt, delay}), `$closed` ({code, reason}), `$recovered` (room, position), `$reset`
   *  (room, position), `$error` (DispatchError). Returns an unsubscribe function. */
  on(event: string, handler: Handler): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler);
    return () => this.off(event, handler);
  }

  off(event: string, handler: Handler): void {
    this.handlers.get(event)?.delete(handler);
  }

  once(event: string, handler: Handler): () => void {
    const off = this.on(event, (...args: any[]) => { off(); handler(...args); });
    return off;
  }

  private emit(event: string, ...args: any[]): void {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(...args);
      } catch (error) {
        // A throwing handler must not break the client; report it asynchronously.
        setTimeout(() => { throw error; }, 0);
      }
    }
  }

  private setState(next: State): void {
    const old = this._state;
    if (old === next) return;
    this._state = next;
    this.emit("$state", next, old);
  }

  // ---- connection ----

  /** Starts connecting (and reconnecting); resolves with the `welcome` payload, rejects with a
   *  DispatchError (code `closed`) if the client closes for good first. */
  connect(): Promise<any> {
    if (this._state === "open") return Promise.resolve(this.welcomePayload);
    const p = new Promise<any>((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
    if (!this.started) {
      this.started = true;
      this.ended = false;
      this.everOpen = false;
      this.attempt = 0;
      this.setState("connecting");
      void this.open();
    }
    return p;
  }

  /** Closes for good with 1000: pending and queued sends reject with `closed`. Resolves once
   *  the socket is closed. */
  close(code = 1000, reason = ""): Promise<void> {
    const ws = this.ws;
    const done = new Promise<void>((resolve) => {
      if (ws && ws.readyState <= OPEN) this.closeWaiters.push(resolve);
      else resolve();
    });
    this.finish(code, reason, true);
    if (ws && ws.readyState <= OPEN) {
      try { ws.close(code, reason); } catch { ws.close(); }
    }
    return done;
  }

  private async open(): Promise<void> {
    this.reconnectTimer = undefined;
    if (!this.started) return;
    let token: string | null = null;
    if (this.getToken) {
      try {
        token = await this.getToken();
        if (typeof token !== "string" || token === "") throw new Error(`expected a non-empty string, got ${token === "" ? "\"\"" : typeof token}`);
      } catch (error) {
        if (!this.started) return;
        this.emit("$error", new DispatchError("token", `getToken failed: ${(error as Error)?.message ?? error}`));
        this.scheduleReconnect();
        return;
      }
      if (!this.started) return;
    }
    this.token = token;
    const protocols = ["dispatch.v1"];
    if (token) protocols.push("bearer." + token);
    let ws: WebSocketLike;
    try {
      ws = new this.WS(this.url, protocols);
    } catch (error) {
      this.emit("$error", new DispatchError("connect", `cannot open ${this.url}: ${(error as Error)?.message ?? error}`));
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => { if (this.ws === ws) this.onData(ev.data); };
    ws.onerror = () => { /* the close event follows */ };
    ws.onclose = (ev) => this.onClose(ws, ev.code, ev.reason);
  }

  private onClose(ws: WebSocketLike, code: number, reason: string): void {
    if (this.ws !== ws) {
      // Our own close() of this socket: it has been handled already.
      const waiters = this.closeWaiters.splice(0);
      waiters.forEach((w) => w());
      return;
    }
    this.ws = null;
    this.clearConnTimers();
    for (const [id, out] of this.pending) {
      this.pending.delete(id);
      if (out.timer) clearTimeout(out.timer);
      out.reject(new DispatchError("disconnected", `connection closed (${code}${reason ? " " + reason : ""}) before the answer`,
        { ref: id, event: out.event, closeCode: code }));
    }
    if (FINAL_CLOSE_CODES.includes(code)) {
      this.emit("$disconnected", { code, reason, willReconnect: false });
      this.finish(code, reason, false);
      return;
    }
    this.emit("$disconnected", { code, reason, willReconnect: true });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.started) return;
    const cap = Math.min(this.opts.maxDelay, this.opts.minDelay * Math.pow(2, this.attempt));
    const delay = Math.max(this.opts.delayFloor, Math.floor(this.opts.random() * cap));
    this.attempt++;
    if (this.everOpen) this.setState("reconnecting");
    this.emit("$reconnecting", { attempt: this.attempt, delay });
    this.reconnectTimer = setTimeout(() => void this.open(), delay);
  }

  // The client is done (close(), or a close code that does not reconnect).
  private finish(code: number, reason: string, byUser: boolean): void {
    const wasStarted = this.started;
    this.started = false;
    this.ended = true;
    this.ws = null;
    this.clearConnTimers();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const why = byUser ? "client closed" : `closed by the server (${code}${reason ? " " + reason : ""})`;
    for (const [id, out] of this.pending) {
      this.pending.delete(id);
      if (out.timer) clearTimeout(out.timer);
      out.reject(new DispatchError("closed", why, { ref: id, event: out.event, closeCode: code }));
    }
    for (const out of this.queue.splice(0)) {
      out.reject(new DispatchError("closed", why, { event: out.event, closeCode: code }));
    }
    for (const w of this.connectWaiters.splice(0)) {
      w.reject(new DispatchError("closed", why, { closeCode: code }));
    }
    this.setState("closed");
    if (wasStarted) {
      if (byUser) this.emit("$disconnected", { code, reason, willReconnect: false });
      this.emit("$closed", { code, reason });
    }
  }

  private clearConnTimers(): void {
    if (this.stableTimer) clearTimeout(this.stableTimer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.stableTimer = this.refreshTimer = undefined;
  }

  // ---- frames ----

  private onData(data: any): void {
    let text: string;
    if (typeof data === "string") text = data;
    else {
      try { text = new TextDecoder().decode(data); } catch { return; }
    }
    let frame: Frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object" || typeof frame.event !== "string") return;
    switch (frame.event) {
      case "welcome":
        this.onWelcome(frame);
        return;
      case "ack": {
        const ref = frame.payload?.ref;
        const out = typeof ref === "number" ? this.pending.get(ref) : undefined;
        if (out) {
          this.pending.delete(ref);
          if (out.timer) clearTimeout(out.timer);
          this.onAck(out, frame.payload);
          out.resolve(frame.payload);
          return;
        }
        break;
      }
      case "error": {
        const ref = frame.payload?.ref;
        const out = typeof ref === "number" ? this.pending.get(ref) : undefined;
        if (out) {
          this.pending.delete(ref);
          if (out.timer) clearTimeout(out.timer);
          out.reject(DispatchError.fromPayload(frame.payload));
          return;
        }
        break;
      }
    }
    if (typeof frame.room === "string" && typeof frame.offset === "number") {
      const known = this.positions.get(frame.room);
      if (known && known.epoch === frame.epoch && frame.offset <= known.offset) return; // seen already
      this.positions.set(frame.room, { offset: frame.offset, epoch: String(frame.epoch ?? "") });
    }
    this.emit(frame.event, frame.payload, frame);
  }

  private onWelcome(frame: Frame): void {
    this.welcomePayload = frame.payload;
    this.everOpen = true;
    this.setState("open");
    this.stableTimer = setTimeout(() => { this.attempt = 0; }, this.opts.stableAfter);
    this.emit("welcome", frame.payload, frame);
    for (const w of this.connectWaiters.splice(0)) w.resolve(frame.payload);
    if (this._state !== "open") return; // a handler closed the client
    this.scheduleRefresh();
    for (const r of this.rejoins.values()) {
      const since = r.target !== undefined && this.positions.has(r.target)
        ? { [r.target]: { ...this.positions.get(r.target)! } } : undefined;
      const out: Outgoing = {
        event: r.event, target: r.target, payload: r.payload, since, rejoin: false,
        timeout: this.opts.ackTimeout, internal: "rejoin",
        resolve: () => {},
        reject: (error) => { if (error.code !== "disconnected" && error.code !== "closed") this.emit("$error", error); },
      };
      this.transmit(out);
    }
    for (const out of this.queue.splice(0)) this.transmit(out);
  }

  private onAck(out: Outgoing, payload: any): void {
    if (out.rejoin) this.rejoins.set(`${out.event}\u0000${out.target ?? ""}`, { event: out.event, target: out.target, payload: out.payload });
    const positions = payload?.positions;
    if (positions && typeof positions === "object") {
      for (const room of Object.keys(positions)) {
        const p = positions[room];
        if (p && typeof p.offset === "number") this.advance(room, { offset: p.offset, epoch: String(p.epoch ?? "") });
      }
    }
    const recovered = payload?.recovered;
    if (recovered && typeof recovered === "object") {
      for (const room of Object.keys(recovered)) {
        const r = recovered[room] ?? {};
        const pos: Position = { offset: r.offset, epoch: r.epoch };
        if (r.ok) {
          if (typeof r.offset === "number") this.advance(room, { offset: r.offset, epoch: String(r.epoch ?? "") });
          this.emit("$recovered", room, pos);
        } else {
          if (typeof r.offset === "number") this.advance(room, { offset: r.offset, epoch: String(r.epoch ?? "") });
          else this.positions.delete(room);
          this.emit("$reset", room, pos);
        }
      }
    }
  }

  // Records a position unless a later one of the same epoch is known already.
  private advance(room: string, pos: Position): void {
    const known = this.positions.get(room);
    if (known && known.epoch === pos.epoch && known.offset >= pos.offset) return;
    this.positions.set(room, pos);
  }

  // ---- sending ----

  /** Sends `event` with a fresh numeric `id`; resolves with the `ack` payload, rejects with a
   *  DispatchError. While not open the message waits in the queue (bounded by `queueLimit`). */
  send(event: string, options: SendOptions = {}): Promise<any> {
    return new Promise((resolve, reject) => {
      const out: Outgoing = {
        event, target: options.target, payload: options.payload, since: options.since,
        rejoin: !!options.rejoin, timeout: options.timeout ?? this.opts.ackTimeout, resolve, reject,
      };
      if (this._state === "open" && this.ws && this.ws.readyState === OPEN) {
        this.transmit(out);
      } else if (this.ended) {
        reject(new DispatchError("closed", "the client is closed", { event }));
      } else if (this.queue.length >= this.opts.queueLimit) {
        reject(new DispatchError("queue_full", `send queue full (${this.opts.queueLimit} messages waiting for the connection)`, { event }));
      } else {
        this.queue.push(out);
      }
    });
  }

  private transmit(out: Outgoing): void {
    const id = this.nextId++;
    const msg: Record<string, unknown> = { event: out.event };
    if (out.target !== undefined) msg.target = out.target;
    if (out.payload !== undefined) msg.payload = out.payload;
    if (out.since !== undefined) msg.since = out.since;
    msg.id = id;
    this.pending.set(id, out);
    if (out.timeout > 0 && isFinite(out.timeout)) {
      out.timer = setTimeout(() => {
        if (this.pending.get(id) !== out) return;
        this.pending.delete(id);
        out.reject(new DispatchError("timeout", `no answer to ${out.event} (id ${id}) within ${out.timeout} ms`, { ref: id, event: out.event }));
      }, out.timeout);
    }
    try {
      this.ws!.send(JSON.stringify(msg));
    } catch (error) {
      this.pending.delete(id);
      if (out.timer) clearTimeout(out.timer);
      out.reject(new DispatchError("disconnected", `send failed: ${(error as Error)?.message ?? error}`, { ref: id, event: out.event }));
    }
  }

  // ---- token refresh ----

  private scheduleRefresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    if (!this.opts.refresh || !this.getToken || !this.token) return;
    const exp = jwtExp(this.token);
    if (exp === null) return;
    const remaining = exp * 1000 - Date.now();
    if (remaining <= 0) return;
    const delay = Math.max(0, Math.min(remaining * this.opts.refreshRatio, remaining - this.opts.refreshLeadMs));
    this.refreshTimer = setTimeout(() => void this.refresh(), delay);
  }

  private async refresh(): Promise<void> {
    this.refreshTimer = undefined;
    const ws = this.ws;
    let token: string;
    try {
      token = await this.getToken!();
    } catch (error) {
      this.emit("$error", new DispatchError("token", `getToken failed: ${(error as Error)?.message ?? error}`));
      return;
    }
    if (this.ws !== ws || this._state !== "open") return;
    const oldExp = jwtExp(this.token!);
    const newExp = jwtExp(token);
    if (newExp !== null && oldExp !== null && newExp <= oldExp) {
      this.emit("$error", new DispatchError("token", "getToken returned a token that expires no later than the current one: not refreshed"));
      return;
    }
    const out: Outgoing = {
      event: "_refresh", payload: { token }, rejoin: false, timeout: this.opts.ackTimeout, internal: "refresh",
      resolve: () => {
        if (this.ws !== ws) return;
        this.token = token;
        this.scheduleRefresh();
      },
      reject: (error) => { if (error.code !== "disconnected" && error.code !== "closed") this.emit("$error", error); },
    };
    this.transmit(out);
  }
}

export default DispatchClient;
