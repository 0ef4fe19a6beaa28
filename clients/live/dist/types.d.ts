/** A poll's released tally: the `data` of a `tally` frame and of a poll's snapshot. */
export interface Tally {
    poll_id: string;
    version: number;
    total_votes: number;
    options: {
        option_id: string;
        vote_count: number;
    }[];
    is_closed: boolean;
}
/**
 * A poll's tally in the compact form (docs/api.md, "Compact tallies"): the counts in the order
 * of the option ids that the poll's `subscribed` snapshot carries once. The client expands it
 * back to a Tally before any listener sees it.
 */
export interface CompactTally {
    option_ids?: string[];
    version: number;
    total_votes: number;
    counts: number[];
    is_closed: boolean;
}
/** The tally form the client asks the server for (docs/api.md, "Compact tallies"). */
export type TallyForm = "compact" | "full";
/** Codes of the server's `error` frames. */
export type ErrorCode = "NOT_CIRCLE_MEMBER" | "FORBIDDEN" | "POLL_NOT_FOUND" | "CIRCLE_NOT_FOUND" | "INVALID_CHANNEL" | "TOO_MANY_CHANNELS" | "UNKNOWN_FRAME" | "INVALID_FORMAT" | "INTERNAL_ERROR" | "SERVICE_UNAVAILABLE";
/** Circle events (`event` frames on `circle:<id>`). */
export type CircleEventName = "poll_created" | "poll_closed" | "member_joined" | "member_left" | "member_removed" | "circle_deleted";
/** The client's connection state. */
export type State = "connecting" | "authenticating" | "ready" | "waiting" | "closed";
/** What a close code means (docs/api.md, "Limits"). */
export type CloseKind = "normal" | "going_away" | "unsupported" | "policy" | "too_big" | "try_later" | "client_timeout" | "unauthorized" | "slow_consumer" | "dropped";
/** Why the client stopped for good (it does not reconnect after these). */
export type StopReason = "client" | "unauthorized" | "policy" | "protocol";
/** Everything the client reports, told apart by `type`. */
export type LiveEvent = {
    type: "state";
    state: State;
}
/** Authenticated on `url`; subscriptions are (re)sent now. */
 | {
    type: "ready";
    userId: string;
    url: string;
}
/** A subscription started (or was restored after a reconnect); data is its snapshot, null when the connection already held it. */
 | {
    type: "subscribed";
    channel: string;
    data: unknown;
}
/** A poll's tally moved forward: only ever emitted with a higher version than the last one. */
 | {
    type: "tally";
    channel: string;
    tally: Tally;
    previousVersion: number | null;
    source: "snapshot" | "live";
}
/**
 * The poll closed. In the full form data is the final results (as GET /v1/polls/{id}/results);
 * in the compact form data is null (fetch the results for ranks and nicknames) and tally is
 * the final tally, which is also emitted as a `tally` event first.
 */
 | {
    type: "poll_closed";
    channel: string;
    data: unknown;
    tally?: Tally;
} | {
    type: "event";
    channel: string;
    event: CircleEventName;
    data: unknown;
} | {
    type: "notification";
    channel: string;
    data: unknown;
}
/** A subscription ended: asked for (reason undefined) or by the server ("removed", "deleted"). */
 | {
    type: "unsubscribed";
    channel: string;
    reason?: string;
}
/**
 * An error frame; channel is set when it answers one of this client's subscribes. The client's
 * own failures (a token function that threw, a URL the WebSocket refused) come as code
 * "CLIENT_ERROR", and a reconnect follows.
 */
 | {
    type: "error";
    code: ErrorCode | string;
    message: string;
    id?: number;
    channel?: string;
}
/** A connection ended. willReconnect is false when the client stops (see "stopped"). */
 | {
    type: "close";
    code: number;
    kind: CloseKind;
    reason: string;
    willReconnect: boolean;
}
/** The next connection attempt starts in delayMs (attempt counts from 1 since the last ready). */
 | {
    type: "reconnecting";
    attempt: number;
    delayMs: number;
}
/** The server asked this client to move to another replica (it shuts down). */
 | {
    type: "reconnect_requested";
    reason: string;
} | {
    type: "stopped";
    reason: StopReason;
    code?: number;
};
export type LiveEventType = LiveEvent["type"];
/** The event of a given type. */
export type LiveEventOf<K extends LiveEventType> = Extract<LiveEvent, {
    type: K;
}>;
/** The part of the standard WebSocket this client uses (browser, React Native, Node 22+, undici). */
export interface WebSocketLike {
    readonly readyState: number;
    send(data: string): void;
    close(code?: number, reason?: string): void;
    onopen: ((ev: any) => void) | null;
    onmessage: ((ev: {
        data: unknown;
    }) => void) | null;
    onclose: ((ev: {
        code: number;
        reason: string;
    }) => void) | null;
    onerror: ((ev: any) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;
export interface BackoffOptions {
    /** First delay's upper bound, ms (default 500). */
    initialMs?: number;
    /** Largest delay, ms (default 30000). */
    maxMs?: number;
    /** Growth per attempt (default 2). */
    factor?: number;
}
export interface LiveClientOptions {
    /**
     * WebSocket URL of `/v1/ws` (ws:// or wss://). With a list, each new connection tries the
     * next one; with a function, it is called before each connection.
     */
    url: string | string[] | (() => string);
    /** The access token, or a function giving the current one (called before each connection). */
    token: string | (() => string | Promise<string>);
    /** WebSocket constructor; default globalThis.WebSocket. */
    WebSocket?: WebSocketConstructor;
    backoff?: BackoffOptions;
    /** Application-level ping period, ms (default 20000; 0 turns it off). */
    pingIntervalMs?: number;
    /** A connection that answers nothing within this after a ping is dropped and replaced, ms (default 10000). */
    pingTimeoutMs?: number;
    /** The server's `ready` must come within this after the connection opens, ms (default 15000). */
    readyTimeoutMs?: number;
    /**
     * The tally form to ask for (default "compact": the option ids once per subscription, then
     * only counts; the client expands them, so listeners get full tallies either way). "full"
     * asks for nothing and gets the server's full frames, final results included in poll_closed.
     */
    tally?: TallyForm;
    /** Random numbers in [0, 1) for the jitter (tests pass their own). */
    random?: () => number;
}
