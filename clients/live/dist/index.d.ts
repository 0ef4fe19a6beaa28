import type { BackoffOptions, CloseKind, LiveClientOptions, LiveEventOf, LiveEventType, State, StopReason, Tally, TallyForm } from "./types.js";
export type * from "./types.js";
/** Most channels one connection may hold (the server refuses the 101st). */
export declare const MAX_CHANNELS = 100;
/** Close code this client uses when it gives up on a connection itself (no ready, no pong). */
export declare const CLOSE_CLIENT_TIMEOUT = 4000;
/**
 * stopReasonFor tells which close codes end the client for good: reconnecting would only be
 * refused again (and hammer the server). Everything else (1001 going away, 1006 dropped,
 * 1013 try later, 4008 slow consumer, ...) is retried with backoff.
 */
export declare function stopReasonFor(code: number): StopReason | null;
/** closeKind names a close code for the app ("dropped" for codes the protocol does not use). */
export declare function closeKind(code: number): CloseKind;
/**
 * backoffDelay is the wait before reconnect attempt n (from 1): "equal jitter" over an
 * exponential ceiling capped at maxMs, so a crowd of clients spreads out and none retries at once.
 */
export declare function backoffDelay(attempt: number, options?: BackoffOptions, random?: () => number): number;
/** isTally checks the shape of a tally (snapshot or frame data) before it is trusted. */
export declare function isTally(v: unknown): v is Tally;
/**
 * withTallyForm adds `tally=compact` to a /v1/ws URL (string operations only: React Native's
 * URL has no searchParams). "full" leaves the URL as it is, as do URLs that already choose.
 */
export declare function withTallyForm(url: string, form: TallyForm): string;
/**
 * expandTally turns a poll's compact tally (counts in the order of optionIds) back into the
 * full tally; null when it does not fit them.
 */
export declare function expandTally(pollId: string, optionIds: readonly string[], v: unknown): Tally | null;
export declare class LiveClient {
    private readonly options;
    private readonly Socket;
    private readonly random;
    private readonly listeners;
    private readonly wanted;
    private readonly tallies;
    private readonly optionIds;
    private readonly pending;
    private readonly retryTimers;
    private ws;
    private currentState;
    private currentUrl;
    private currentUserId;
    private nextId;
    private urlIndex;
    private attempt;
    private started;
    private stopped;
    private moveRequested;
    private reconnectTimer;
    private readyTimer;
    private pingTimer;
    private pongTimer;
    constructor(options: LiveClientOptions);
    /** Starts connecting (once); the client then reconnects by itself until close(). */
    connect(): this;
    /** Stops for good: the connection is closed and no reconnect follows. */
    close(): void;
    /** Adds a channel (poll:<id>, circle:<id>, user:<id>); it is held across reconnects. */
    subscribe(channel: string): void;
    /** Drops a channel; its tally is forgotten. */
    unsubscribe(channel: string): void;
    /** Listens to one type of event; returns a function that stops listening. */
    on<K extends LiveEventType>(type: K, listener: (e: LiveEventOf<K>) => void): () => void;
    get state(): State;
    /** The URL of the current (or last) connection. */
    get url(): string;
    /** The user the server authenticated ("" before the first ready). */
    get userId(): string;
    /** The channels the client holds (or will hold once connected). */
    get channels(): string[];
    /** The highest tally seen for a poll (by poll id or poll:<id> channel). */
    tally(poll: string): Tally | undefined;
    private nextUrl;
    private open;
    /**
     * drop leaves the current connection and reconnects: it went silent (reported as 4000), or
     * the server asked to move (reported as 1001, the close that would have followed).
     */
    private drop;
    private afterClose;
    private onMessage;
    private onReady;
    private onUnsubscribed;
    private onError;
    private retrySubscribe;
    /**
     * fullTally gives a poll's tally in the full form whichever form came: a compact snapshot
     * brings the option ids (kept per channel: a poll's options never change), later compact
     * tallies only counts in their order. A full tally passes through, and its option ids are kept
     * too (a replica of an older version may send one to a compact connection). Data that does
     * not fit comes back unchanged, and applyTally ignores it.
     */
    private fullTally;
    private forget;
    private applyTally;
    private sendFrame;
    private send;
    private startPings;
    private clearPongTimer;
    private clearConnectionTimers;
    private clearTimers;
    private setState;
    private emit;
}
