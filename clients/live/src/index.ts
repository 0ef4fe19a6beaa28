// Circly live client: one WebSocket to /v1/ws that authenticates with its first frame,
// holds the channels the app wants across reconnects, and keeps each poll's tally at the
// highest version it has seen. It uses only what browsers, React Native and Node share
// (WebSocket, JSON, timers), and imports nothing at run time.
import type {
  BackoffOptions,
  CloseKind,
  LiveClientOptions,
  LiveEvent,
  LiveEventOf,
  LiveEventType,
  State,
  StopReason,
  Tally,
  TallyForm,
  WebSocketConstructor,
  WebSocketLike,
} from "./types.js";

export type * from "./types.js";

/** Most channels one connection may hold (the server refuses the 101st). */
export const MAX_CHANNELS = 100;

// Client frames are small; the server closes 1009 above 4 KiB. A channel is a prefix and a UUID.
const MAX_CHANNEL_LENGTH = 64;

const OPEN = 1; // WebSocket.OPEN, spelled out: React Native's constructor may lack the static

// Refusals that are not the client's fault: the subscribe is sent again after a pause.
const RETRY_ERRORS = new Set(["SERVICE_UNAVAILABLE", "INTERNAL_ERROR"]);

/** Close code this client uses when it gives up on a connection itself (no ready, no pong). */
export const CLOSE_CLIENT_TIMEOUT = 4000;

/**
 * stopReasonFor tells which close codes end the client for good: reconnecting would only be
 * refused again (and hammer the server). Everything else (1001 going away, 1006 dropped,
 * 1013 try later, 4008 slow consumer, ...) is retried with backoff.
 */
export function stopReasonFor(code: number): StopReason | null {
  switch (code) {
    case 4001:
      return "unauthorized";
    case 1008:
      return "policy";
    case 1003:
    case 1009:
      return "protocol";
    default:
      return null;
  }
}

const CLOSE_KINDS: Record<number, CloseKind> = {
  1000: "normal",
  1001: "going_away",
  1003: "unsupported",
  1008: "policy",
  1009: "too_big",
  1013: "try_later",
  4000: "client_timeout",
  4001: "unauthorized",
  4008: "slow_consumer",
};

/** closeKind names a close code for the app ("dropped" for codes the protocol does not use). */
export function closeKind(code: number): CloseKind {
  return CLOSE_KINDS[code] ?? "dropped";
}

/**
 * backoffDelay is the wait before reconnect attempt n (from 1): "equal jitter" over an
 * exponential ceiling capped at maxMs, so a crowd of clients spreads out and none retries at once.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 500;
  const max = options.maxMs ?? 30000;
  const factor = options.factor ?? 2;
  const ceiling = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt - 1)));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/** isTally checks the shape of a tally (snapshot or frame data) before it is trusted. */
export function isTally(v: unknown): v is Tally {
  const t = v as Tally;
  return (
    typeof t === "object" &&
    t !== null &&
    typeof t.poll_id === "string" &&
    Number.isInteger(t.version) &&
    typeof t.total_votes === "number" &&
    Array.isArray(t.options)
  );
}

/**
 * withTallyForm adds `tally=compact` to a /v1/ws URL (string operations only: React Native's
 * URL has no searchParams). "full" leaves the URL as it is, as do URLs that already choose.
 */
export function withTallyForm(url: string, form: TallyForm): string {
  if (form !== "compact" || /[?&]tally=/.test(url)) return url;
  const hash = url.indexOf("#");
  const [base, fragment] = hash < 0 ? [url, ""] : [url.slice(0, hash), url.slice(hash)];
  return base + (base.includes("?") ? "&" : "?") + "tally=compact" + fragment;
}

/**
 * expandTally turns a poll's compact tally (counts in the order of optionIds) back into the
 * full tally; null when it does not fit them.
 */
export function expandTally(pollId: string, optionIds: readonly string[], v: unknown): Tally | null {
  const c = v as { version?: unknown; total_votes?: unknown; counts?: unknown; is_closed?: unknown };
  if (
    typeof c !== "object" ||
    c === null ||
    !Number.isInteger(c.version) ||
    typeof c.total_votes !== "number" ||
    !Array.isArray(c.counts) ||
    c.counts.length !== optionIds.length ||
    !c.counts.every((n) => typeof n === "number")
  ) {
    return null;
  }
  const counts = c.counts as number[];
  return {
    poll_id: pollId,
    version: c.version as number,
    total_votes: c.total_votes,
    options: optionIds.map((id, i) => ({ option_id: id, vote_count: counts[i] })),
    is_closed: c.is_closed === true,
  };
}

function isCompact(v: unknown): boolean {
  return typeof v === "object" && v !== null && Array.isArray((v as { counts?: unknown }).counts);
}

type Listener = (e: LiveEvent) => void;
type Pending = { channel: string; kind: "subscribe" | "unsubscribe" };

export class LiveClient {
  private readonly options: LiveClientOptions;
  private readonly Socket: WebSocketConstructor;
  private readonly random: () => number;
  private readonly listeners = new Map<LiveEventType, Set<Listener>>();

  private readonly wanted = new Set<string>(); // channels the app asked for, kept across reconnects
  private readonly tallies = new Map<string, Tally>(); // poll channel -> highest version seen
  private readonly optionIds = new Map<string, string[]>(); // poll channel -> option ids in display order
  private readonly pending = new Map<number, Pending>(); // frame id -> what it asked (this connection)
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>();

  private ws: WebSocketLike | null = null;
  private currentState: State = "closed";
  private currentUrl = "";
  private currentUserId = "";
  private nextId = 1;
  private urlIndex = -1;
  private attempt = 0; // reconnect attempts since the last ready
  private started = false;
  private stopped = false;
  private moveRequested = false; // the server sent `reconnect`: move on quickly

  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readyTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private pongTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: LiveClientOptions) {
    const Socket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Socket) {
      throw new TypeError("LiveClient: no WebSocket; pass options.WebSocket");
    }
    const urls = typeof options.url === "string" ? [options.url] : options.url;
    if (Array.isArray(urls) && (urls.length === 0 || urls.some((u) => typeof u !== "string" || u === ""))) {
      throw new TypeError("LiveClient: options.url must name at least one WebSocket URL");
    }
    if (typeof options.token !== "string" && typeof options.token !== "function") {
      throw new TypeError("LiveClient: options.token must be a string or a function");
    }
    this.options = options;
    this.Socket = Socket;
    this.random = options.random ?? Math.random;
  }

  /** Starts connecting (once); the client then reconnects by itself until close(). */
  connect(): this {
    if (!this.started && !this.stopped) {
      this.started = true;
      void this.open();
    }
    return this;
  }

  /** Stops for good: the connection is closed and no reconnect follows. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      detach(ws);
      try {
        ws.close(1000, "client closed");
      } catch {
        // already closing
      }
      this.emit({ type: "close", code: 1000, kind: "normal", reason: "client closed", willReconnect: false });
    }
    this.setState("closed");
    this.emit({ type: "stopped", reason: "client" });
  }

  /** Adds a channel (poll:<id>, circle:<id>, user:<id>); it is held across reconnects. */
  subscribe(channel: string): void {
    if (typeof channel !== "string" || channel === "" || channel.length > MAX_CHANNEL_LENGTH) {
      throw new TypeError(`LiveClient: invalid channel ${JSON.stringify(channel)}`);
    }
    if (this.wanted.has(channel)) return;
    if (this.wanted.size >= MAX_CHANNELS) {
      throw new RangeError(`LiveClient: at most ${MAX_CHANNELS} channels per connection`);
    }
    this.wanted.add(channel);
    if (this.currentState === "ready") this.sendFrame("subscribe", channel);
  }

  /** Drops a channel; its tally is forgotten. */
  unsubscribe(channel: string): void {
    if (!this.wanted.delete(channel)) return;
    this.forget(channel);
    if (this.currentState === "ready") this.sendFrame("unsubscribe", channel);
  }

  /** Listens to one type of event; returns a function that stops listening. */
  on<K extends LiveEventType>(type: K, listener: (e: LiveEventOf<K>) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    const l = listener as Listener;
    set.add(l);
    return () => set.delete(l);
  }

  get state(): State {
    return this.currentState;
  }

  /** The URL of the current (or last) connection. */
  get url(): string {
    return this.currentUrl;
  }

  /** The user the server authenticated ("" before the first ready). */
  get userId(): string {
    return this.currentUserId;
  }

  /** The channels the client holds (or will hold once connected). */
  get channels(): string[] {
    return [...this.wanted];
  }

  /** The highest tally seen for a poll (by poll id or poll:<id> channel). */
  tally(poll: string): Tally | undefined {
    return this.tallies.get(poll.startsWith("poll:") ? poll : "poll:" + poll);
  }

  // ---- connection ----

  private nextUrl(): string {
    const u = this.options.url;
    if (typeof u === "function") return u();
    if (typeof u === "string") return u;
    this.urlIndex = (this.urlIndex + 1) % u.length;
    return u[this.urlIndex];
  }

  private async open(): Promise<void> {
    this.reconnectTimer = null;
    this.setState("connecting");
    let url: string;
    let token: string;
    let ws: WebSocketLike;
    try {
      url = this.nextUrl();
      token = typeof this.options.token === "function" ? await this.options.token() : this.options.token;
      if (this.stopped) return;
      ws = new this.Socket(withTallyForm(url, this.options.tally ?? "compact"));
    } catch (err) {
      if (this.stopped) return;
      // A bad URL or a token source that failed: report it, and retry like a dropped connection.
      this.emit({ type: "error", code: "CLIENT_ERROR", message: String(err) });
      this.afterClose(0, String(err));
      return;
    }
    this.ws = ws;
    this.currentUrl = url;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.setState("authenticating");
      this.send({ type: "auth", token });
      this.readyTimer = setTimeout(() => this.drop("no ready frame"), this.options.readyTimeoutMs ?? 15000);
    };
    ws.onmessage = (ev) => {
      if (ws === this.ws) this.onMessage(ev.data);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.afterClose(ev.code, ev.reason ?? "");
    };
    ws.onerror = () => {
      // A close event always follows; it carries the code.
    };
  }

  /**
   * drop leaves the current connection and reconnects: it went silent (reported as 4000), or
   * the server asked to move (reported as 1001, the close that would have followed).
   */
  private drop(reason: string, code: number = CLOSE_CLIENT_TIMEOUT): void {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    detach(ws);
    try {
      ws.close(code >= 3000 ? code : 1000, reason); // browsers only let clients send 1000 and 3000-4999
    } catch {
      // already closing
    }
    this.afterClose(code, reason);
  }

  private afterClose(code: number, reason: string): void {
    this.clearConnectionTimers();
    this.pending.clear();
    if (this.stopped) return;
    const stop = stopReasonFor(code);
    this.emit({ type: "close", code, kind: closeKind(code), reason, willReconnect: stop === null });
    if (stop !== null) {
      this.stopped = true;
      this.clearTimers();
      this.setState("closed");
      this.emit({ type: "stopped", reason: stop, code });
      return;
    }
    this.attempt++;
    // Asked to move (the replica shuts down): go at once, with a little jitter; else back off.
    const backoff = this.options.backoff ?? {};
    const delayMs = this.moveRequested
      ? Math.floor(this.random() * Math.min(backoff.initialMs ?? 500, 1000))
      : backoffDelay(this.attempt, backoff, this.random);
    this.moveRequested = false;
    this.setState("waiting");
    this.emit({ type: "reconnecting", attempt: this.attempt, delayMs });
    this.reconnectTimer = setTimeout(() => void this.open(), delayMs);
  }

  // ---- frames ----

  private onMessage(raw: unknown): void {
    this.clearPongTimer(); // any frame shows the connection is alive
    let f: Record<string, any>;
    try {
      f = JSON.parse(String(raw));
    } catch {
      return; // the server sends only JSON objects; ignore anything else
    }
    if (typeof f !== "object" || f === null) return;
    const channel = typeof f.channel === "string" ? f.channel : "";
    switch (f.type) {
      case "ready":
        this.onReady(String(f.user_id ?? ""));
        return;
      case "subscribed": {
        this.pending.delete(f.id);
        if (!this.wanted.has(channel)) return; // unsubscribed meanwhile
        const poll = channel.startsWith("poll:");
        const data = poll && f.data != null ? this.fullTally(channel, f.data) : (f.data ?? null);
        this.emit({ type: "subscribed", channel, data });
        if (poll) this.applyTally(channel, data, "snapshot");
        return;
      }
      case "tally":
        this.applyTally(channel, this.fullTally(channel, f.data), "live");
        return;
      case "poll_closed":
        if (isCompact(f.data)) {
          // Only the final counts came: they are the poll's last tally; the ranked results
          // are a REST read away (data null tells the listener so).
          const tally = this.fullTally(channel, f.data);
          const final = isTally(tally) ? tally : undefined;
          if (final) this.applyTally(channel, final, "live");
          this.emit({ type: "poll_closed", channel, data: null, tally: final });
          return;
        }
        this.emit({ type: "poll_closed", channel, data: f.data });
        return;
      case "event":
        this.emit({ type: "event", channel, event: f.event, data: f.data });
        return;
      case "notification":
        this.emit({ type: "notification", channel, data: f.data });
        return;
      case "unsubscribed":
        this.onUnsubscribed(f.id, channel, typeof f.reason === "string" ? f.reason : undefined);
        return;
      case "error":
        this.onError(f);
        return;
      case "reconnect":
        this.emit({ type: "reconnect_requested", reason: String(f.reason ?? "") });
        this.moveRequested = true;
        this.drop("server asked to reconnect", 1001);
        return;
      case "pong":
        return;
    }
  }

  private onReady(userId: string): void {
    if (this.readyTimer) clearTimeout(this.readyTimer);
    this.readyTimer = null;
    this.attempt = 0;
    this.currentUserId = userId;
    this.setState("ready");
    this.emit({ type: "ready", userId, url: this.currentUrl });
    this.startPings();
    // The new connection holds nothing yet: ask for every channel again; each snapshot brings
    // its tally up to date (and is ignored when older than what the client already holds).
    for (const channel of this.wanted) this.sendFrame("subscribe", channel);
  }

  private onUnsubscribed(id: unknown, channel: string, reason: string | undefined): void {
    const asked = typeof id === "number" ? this.pending.get(id) : undefined;
    if (asked) this.pending.delete(id as number);
    if (reason !== undefined) {
      // The server ended it (member removed, poll deleted): do not ask again after a reconnect.
      this.wanted.delete(channel);
      this.forget(channel);
    } else if (!asked || this.wanted.has(channel)) {
      return; // an old answer for a channel subscribed again since
    }
    this.emit({ type: "unsubscribed", channel, reason });
  }

  private onError(f: Record<string, any>): void {
    const id = Number.isInteger(f.id) ? (f.id as number) : undefined;
    const asked = id !== undefined ? this.pending.get(id) : undefined;
    if (id !== undefined) this.pending.delete(id);
    const code = String(f.code ?? "");
    this.emit({ type: "error", code, message: String(f.message ?? ""), id, channel: asked?.channel });
    if (!asked || asked.kind !== "subscribe") return;
    if (RETRY_ERRORS.has(code)) {
      this.retrySubscribe(asked.channel);
    } else {
      this.wanted.delete(asked.channel); // refused for good: asking again would count as another error
    }
  }

  private retrySubscribe(channel: string): void {
    const ws = this.ws;
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (ws === this.ws && this.currentState === "ready" && this.wanted.has(channel)) {
        this.sendFrame("subscribe", channel);
      }
    }, backoffDelay(3, this.options.backoff, this.random));
    this.retryTimers.add(timer);
  }

  /**
   * fullTally gives a poll's tally in the full form whichever form came: a compact snapshot
   * brings the option ids (kept per channel: a poll's options never change), later compact
   * tallies only counts in their order. A full tally passes through, and its option ids are kept
   * too (a replica of an older version may send one to a compact connection). Data that does
   * not fit comes back unchanged, and applyTally ignores it.
   */
  private fullTally(channel: string, data: unknown): unknown {
    if (isTally(data)) {
      if (!this.optionIds.has(channel) && this.wanted.has(channel)) {
        this.optionIds.set(channel, data.options.map((o) => o.option_id));
      }
      return data;
    }
    if (!isCompact(data)) return data;
    const given = (data as { option_ids?: unknown }).option_ids;
    if (Array.isArray(given) && given.every((id) => typeof id === "string") && this.wanted.has(channel)) {
      this.optionIds.set(channel, given as string[]);
    }
    const ids = this.optionIds.get(channel);
    return (ids && expandTally(channel.slice("poll:".length), ids, data)) ?? data;
  }

  private forget(channel: string): void {
    this.tallies.delete(channel);
    this.optionIds.delete(channel);
  }

  private applyTally(channel: string, data: unknown, source: "snapshot" | "live"): void {
    if (!isTally(data) || !this.wanted.has(channel)) return;
    const held = this.tallies.get(channel);
    if (held && data.version <= held.version) return; // versions never go backwards
    this.tallies.set(channel, data);
    this.emit({ type: "tally", channel, tally: data, previousVersion: held ? held.version : null, source });
  }

  private sendFrame(type: "subscribe" | "unsubscribe", channel: string): void {
    const id = this.nextId++;
    this.pending.set(id, { channel, kind: type });
    this.send({ type, id, channel });
  }

  private send(frame: object): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return; // a reconnect will send what is still wanted
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      // the close event follows
    }
  }

  // ---- liveness: the server's control pings are answered by the WebSocket itself; these
  // application pings let the client notice a connection that died without a close ----

  private startPings(): void {
    const every = this.options.pingIntervalMs ?? 20000;
    if (every <= 0) return;
    this.pingTimer = setInterval(() => {
      this.send({ type: "ping", id: this.nextId++ });
      if (!this.pongTimer) {
        this.pongTimer = setTimeout(() => this.drop("no pong"), this.options.pingTimeoutMs ?? 10000);
      }
    }, every);
  }

  private clearPongTimer(): void {
    if (this.pongTimer) clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }

  private clearConnectionTimers(): void {
    if (this.readyTimer) clearTimeout(this.readyTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.readyTimer = null;
    this.pingTimer = null;
    this.clearPongTimer();
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
  }

  private clearTimers(): void {
    this.clearConnectionTimers();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private setState(state: State): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit({ type: "state", state });
  }

  private emit(e: LiveEvent): void {
    const set = this.listeners.get(e.type);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(e);
      } catch (err) {
        // A listener's bug must not break the connection; report it where uncaught errors go.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
}
