// Unit tests of LiveClient against an in-process fake WebSocket: the test plays the server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LiveClient, expandTally, withTallyForm } from "../dist/index.js";

// fakeSockets returns a WebSocket constructor whose instances the test drives, and their list.
function fakeSockets() {
  const sockets = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      sockets.push(this);
    }
    send(s) {
      this.sent.push(JSON.parse(s));
    }
    close(code, reason) {
      this.readyState = 3;
      this.closedWith = { code, reason };
    }
    // The server side.
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    frame(f) {
      this.onmessage?.({ data: JSON.stringify(f) });
    }
    serverClose(code, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
    sentOf(type) {
      return this.sent.filter((f) => f.type === type);
    }
  }
  return { FakeSocket, sockets };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, cond, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await tick(2);
  }
}

const tallyOf = (poll, version, votes = version) => ({
  poll_id: poll,
  version,
  total_votes: votes,
  options: [{ option_id: "o1", vote_count: votes }],
  is_closed: false,
});

// setup makes a client on the fake, records its events, and (unless told) brings it to ready.
async function setup(opts = {}, { ready = true } = {}) {
  const { FakeSocket, sockets } = fakeSockets();
  const client = new LiveClient({
    url: ["ws://a/v1/ws", "ws://b/v1/ws"],
    token: "tok",
    WebSocket: FakeSocket,
    backoff: { initialMs: 4, maxMs: 16 },
    random: () => 0.5,
    pingIntervalMs: 0,
    ...opts,
  });
  const events = [];
  for (const type of ["state", "ready", "subscribed", "tally", "poll_closed", "event", "notification",
    "unsubscribed", "error", "close", "reconnecting", "reconnect_requested", "stopped"]) {
    client.on(type, (e) => events.push(e));
  }
  const of = (type) => events.filter((e) => e.type === type);
  client.connect();
  await waitFor("a socket", () => sockets.length === 1);
  if (ready) {
    sockets[0].open();
    sockets[0].frame({ type: "ready", user_id: "u1" });
  }
  return { client, sockets, events, of };
}

test("authenticates with its first frame, then subscribes with ids", async () => {
  const { client, sockets, of } = await setup({}, { ready: false });
  client.subscribe("poll:p1");
  const ws = sockets[0];
  assert.equal(ws.url, "ws://a/v1/ws?tally=compact", "asks for compact tallies");
  ws.open();
  assert.deepEqual(ws.sent, [{ type: "auth", token: "tok" }], "only auth before ready");
  assert.equal(client.state, "authenticating");
  ws.frame({ type: "ready", user_id: "u1" });
  assert.equal(client.state, "ready");
  assert.equal(client.userId, "u1");
  assert.deepEqual(of("ready")[0], { type: "ready", userId: "u1", url: "ws://a/v1/ws" });
  client.subscribe("circle:c1");
  const subs = ws.sentOf("subscribe");
  assert.deepEqual(subs.map((f) => f.channel), ["poll:p1", "circle:c1"]);
  assert.ok(subs.every((f) => Number.isInteger(f.id)) && subs[0].id !== subs[1].id);
  ws.frame({ type: "subscribed", id: subs[1].id, channel: "circle:c1", data: { circle_id: "c1", member_count: 3 } });
  assert.deepEqual(of("subscribed")[0].data, { circle_id: "c1", member_count: 3 });
  client.close();
});

test("tallies never go backwards; a newer snapshot or tally moves them forward", async () => {
  const { client, sockets, of } = await setup();
  client.subscribe("poll:p1");
  const ws = sockets[0];
  const [sub] = ws.sentOf("subscribe");
  ws.frame({ type: "subscribed", id: sub.id, channel: "poll:p1", data: tallyOf("p1", 2) });
  ws.frame({ type: "tally", channel: "poll:p1", data: tallyOf("p1", 1) });
  ws.frame({ type: "tally", channel: "poll:p1", data: tallyOf("p1", 2) });
  ws.frame({ type: "tally", channel: "poll:p1", data: tallyOf("p1", 5) }); // a gap: the server skipped 3 and 4
  ws.frame({ type: "tally", channel: "poll:p1", data: tallyOf("p1", 4) });
  ws.frame({ type: "tally", channel: "poll:p1", data: { poll_id: "p1", version: "x" } }); // malformed: ignored
  const tallies = of("tally");
  assert.deepEqual(tallies.map((e) => [e.tally.version, e.previousVersion, e.source]), [
    [2, null, "snapshot"],
    [5, 2, "live"],
  ]);
  assert.equal(client.tally("p1").version, 5);
  assert.equal(client.tally("poll:p1").version, 5);
  client.close();
});

test("after a dropped connection it backs off, tries the next URL and resubscribes everything", async () => {
  const { client, sockets, of } = await setup();
  client.subscribe("poll:p1");
  client.subscribe("user:u1");
  sockets[0].frame({ type: "subscribed", id: sockets[0].sentOf("subscribe")[0].id, channel: "poll:p1", data: tallyOf("p1", 5) });
  sockets[0].serverClose(1006);
  assert.deepEqual(of("close")[0], { type: "close", code: 1006, kind: "dropped", reason: "", willReconnect: true });
  assert.deepEqual(of("reconnecting")[0], { type: "reconnecting", attempt: 1, delayMs: 3 });
  assert.equal(client.state, "waiting");
  await waitFor("a second socket", () => sockets.length === 2);
  const ws = sockets[1];
  assert.equal(ws.url, "ws://b/v1/ws?tally=compact");
  ws.open();
  ws.frame({ type: "ready", user_id: "u1" });
  const subs = ws.sentOf("subscribe");
  assert.deepEqual(subs.map((f) => f.channel).sort(), ["poll:p1", "user:u1"]);
  const pollSub = subs.find((f) => f.channel === "poll:p1");
  // Replica B's snapshot is older than what the client holds: ignored; a newer tally is taken.
  ws.frame({ type: "subscribed", id: pollSub.id, channel: "poll:p1", data: tallyOf("p1", 4) });
  assert.equal(client.tally("p1").version, 5);
  ws.frame({ type: "tally", channel: "poll:p1", data: tallyOf("p1", 7) });
  assert.deepEqual(of("tally").map((e) => e.tally.version), [5, 7]);
  client.close();
});

test("backoff grows while connections fail and resets after ready", async () => {
  const { client, sockets, of } = await setup({}, { ready: false });
  for (let i = 0; i < 3; i++) {
    await waitFor("socket " + (i + 1), () => sockets.length === i + 1);
    sockets[i].serverClose(1006); // refused before it opened
  }
  assert.deepEqual(of("reconnecting").map((e) => [e.attempt, e.delayMs]), [[1, 3], [2, 6], [3, 12]]);
  assert.deepEqual(sockets.map((s) => s.url), ["ws://a/v1/ws", "ws://b/v1/ws", "ws://a/v1/ws"].map((u) => u + "?tally=compact"));
  await waitFor("socket 4", () => sockets.length === 4);
  sockets[3].open();
  sockets[3].frame({ type: "ready", user_id: "u1" });
  sockets[3].serverClose(1013); // try again later: retried, from the first delay again
  assert.deepEqual(of("reconnecting").at(-1), { type: "reconnecting", attempt: 1, delayMs: 3 });
  client.close();
});

test("the server's reconnect frame moves the client to the next replica at once", async () => {
  const { client, sockets, of } = await setup({ backoff: { initialMs: 1000, maxMs: 1000 }, random: () => 0 });
  client.subscribe("poll:p1");
  sockets[0].frame({ type: "reconnect", reason: "shutdown" });
  assert.deepEqual(of("reconnect_requested")[0], { type: "reconnect_requested", reason: "shutdown" });
  assert.equal(sockets[0].closedWith.code, 1000);
  assert.deepEqual(of("close")[0], { type: "close", code: 1001, kind: "going_away", reason: "server asked to reconnect", willReconnect: true });
  await waitFor("a socket to replica B", () => sockets.length === 2);
  assert.equal(sockets[1].url, "ws://b/v1/ws?tally=compact");
  // The old connection's close (1001) arriving late changes nothing.
  sockets[0].serverClose(1001);
  sockets[1].open();
  sockets[1].frame({ type: "ready", user_id: "u1" });
  assert.deepEqual(sockets[1].sentOf("subscribe").map((f) => f.channel), ["poll:p1"]);
  assert.equal(of("close").length, 1);
  client.close();
});

for (const [code, reason, kind] of [[4001, "unauthorized", "unauthorized"], [1008, "policy", "policy"], [1009, "protocol", "too_big"]]) {
  test(`close ${code} stops the client (${reason}) instead of reconnecting`, async () => {
    const { client, sockets, of } = await setup();
    sockets[0].serverClose(code, "bye");
    assert.deepEqual(of("close")[0], { type: "close", code, kind, reason: "bye", willReconnect: false });
    assert.deepEqual(of("stopped")[0], { type: "stopped", reason, code });
    assert.equal(client.state, "closed");
    await tick(40);
    assert.equal(sockets.length, 1, "no reconnect");
    assert.equal(of("reconnecting").length, 0);
  });
}

test("error frames are events; a refused subscribe is dropped, an unavailable one retried", async () => {
  const { client, sockets, of } = await setup();
  client.subscribe("poll:gone");
  client.subscribe("poll:p2");
  const ws = sockets[0];
  const [gone, p2] = ws.sentOf("subscribe");
  ws.frame({ type: "error", id: gone.id, code: "POLL_NOT_FOUND", message: "no such poll" });
  ws.frame({ type: "error", id: p2.id, code: "SERVICE_UNAVAILABLE", message: "retry" });
  ws.frame({ type: "error", code: "INVALID_FORMAT", message: "a frame is one JSON object" });
  assert.deepEqual(of("error").map((e) => [e.code, e.channel]), [
    ["POLL_NOT_FOUND", "poll:gone"],
    ["SERVICE_UNAVAILABLE", "poll:p2"],
    ["INVALID_FORMAT", undefined],
  ]);
  assert.deepEqual(client.channels, ["poll:p2"]);
  await waitFor("a second subscribe to poll:p2", () => ws.sentOf("subscribe").length === 3);
  assert.equal(ws.sentOf("subscribe")[2].channel, "poll:p2");
  client.close();
});

test("a subscription the server ends is not asked for again; an asked unsubscribe is answered", async () => {
  const { client, sockets, of } = await setup();
  client.subscribe("poll:p1");
  client.subscribe("circle:c1");
  client.subscribe("user:u1");
  const ws = sockets[0];
  ws.frame({ type: "unsubscribed", channel: "poll:p1", reason: "deleted" });
  client.unsubscribe("circle:c1");
  const [unsub] = ws.sentOf("unsubscribe");
  assert.equal(unsub.channel, "circle:c1");
  ws.frame({ type: "unsubscribed", id: unsub.id, channel: "circle:c1" });
  assert.deepEqual(of("unsubscribed"), [
    { type: "unsubscribed", channel: "poll:p1", reason: "deleted" },
    { type: "unsubscribed", channel: "circle:c1", reason: undefined },
  ]);
  ws.frame({ type: "event", channel: "user:u1", event: "x", data: 1 });
  ws.frame({ type: "notification", channel: "user:u1", data: { id: "n1" } });
  ws.frame({ type: "poll_closed", channel: "poll:p9", data: { version: 3 } });
  assert.equal(of("notification")[0].data.id, "n1");
  assert.equal(of("poll_closed")[0].channel, "poll:p9");
  ws.serverClose(4008); // slow consumer: reconnect
  await waitFor("a second socket", () => sockets.length === 2);
  sockets[1].open();
  sockets[1].frame({ type: "ready", user_id: "u1" });
  assert.deepEqual(sockets[1].sentOf("subscribe").map((f) => f.channel), ["user:u1"]);
  client.close();
});

test("pings: a connection that stops answering is replaced", async () => {
  const { client, sockets, of } = await setup({ pingIntervalMs: 10, pingTimeoutMs: 30 });
  const ws = sockets[0];
  await waitFor("a ping", () => ws.sentOf("ping").length >= 1);
  assert.ok(Number.isInteger(ws.sentOf("ping")[0].id));
  // Answered pings keep it.
  for (let i = 0; i < 4; i++) {
    await tick(10);
    ws.frame({ type: "pong", id: 1 });
  }
  assert.equal(sockets.length, 1);
  // Silence: dropped with 4000 and replaced.
  await waitFor("a replacement socket", () => sockets.length === 2, 2000);
  assert.equal(ws.closedWith.code, 4000);
  assert.equal(of("close")[0].code, 4000);
  assert.equal(of("close")[0].kind, "client_timeout");
  client.close();
});

test("close() stops for good; the token function is asked before each connection", async () => {
  let asked = 0;
  const { client, sockets, of } = await setup({ token: async () => "tok" + ++asked });
  assert.deepEqual(sockets[0].sent[0], { type: "auth", token: "tok1" });
  sockets[0].serverClose(1006);
  await waitFor("a second socket", () => sockets.length === 2);
  sockets[1].open();
  assert.deepEqual(sockets[1].sent[0], { type: "auth", token: "tok2" });
  client.close();
  assert.equal(sockets[1].closedWith.code, 1000);
  assert.deepEqual(of("stopped").at(-1), { type: "stopped", reason: "client" });
  await tick(40);
  assert.equal(sockets.length, 2);
  assert.equal(client.state, "closed");
});

test("a token function that fails is reported and retried", async () => {
  let calls = 0;
  const { client, sockets, of } = await setup(
    {
      token: async () => {
        if (++calls === 1) throw new Error("refresh failed");
        return "fresh";
      },
    },
    { ready: false },
  );
  assert.equal(of("error")[0].code, "CLIENT_ERROR");
  assert.match(of("error")[0].message, /refresh failed/);
  assert.equal(of("reconnecting").length, 1);
  sockets[0].open();
  assert.deepEqual(sockets[0].sent[0], { type: "auth", token: "fresh" });
  client.close();
  client.connect(); // closed for good: no new connection
  await tick(20);
  assert.equal(sockets.length, 1);
});

test("bad options and channels are refused with clear errors", () => {
  const { FakeSocket } = fakeSockets();
  assert.throws(() => new LiveClient({ url: [], token: "t", WebSocket: FakeSocket }), /options\.url/);
  assert.throws(() => new LiveClient({ url: "ws://a", token: 3, WebSocket: FakeSocket }), /options\.token/);
  const c = new LiveClient({ url: "ws://a", token: "t", WebSocket: FakeSocket });
  assert.throws(() => c.subscribe(""), /invalid channel/);
  for (let i = 0; i < 100; i++) c.subscribe("poll:" + i);
  assert.throws(() => c.subscribe("poll:101"), /at most 100/);
});

// Compact tallies (docs/api.md, "Compact tallies"): the option ids come once, in the snapshot,
// and then only counts; listeners get full tallies either way.
const compactOf = (version, counts, closed = false) => ({
  version,
  total_votes: counts.reduce((a, b) => a + b, 0),
  counts,
  is_closed: closed,
});

test("compact tallies are expanded back to full ones, the final one included", async () => {
  const { client, sockets, of } = await setup();
  client.subscribe("poll:p1");
  const ws = sockets[0];
  const [sub] = ws.sentOf("subscribe");
  ws.frame({ type: "subscribed", id: sub.id, channel: "poll:p1", data: { option_ids: ["a", "b", "c"], ...compactOf(2, [1, 0, 1]) } });
  const full = (version, counts, closed = false) => ({
    poll_id: "p1",
    version,
    total_votes: counts.reduce((a, b) => a + b, 0),
    options: counts.map((n, i) => ({ option_id: "abc"[i], vote_count: n })),
    is_closed: closed,
  });
  assert.deepEqual(of("subscribed")[0].data, full(2, [1, 0, 1]), "the snapshot reaches listeners in the full form");
  ws.frame({ type: "tally", channel: "poll:p1", data: compactOf(3, [1, 1, 1]) });
  ws.frame({ type: "tally", channel: "poll:p1", data: compactOf(2, [1, 0, 1]) }); // older: ignored
  ws.frame({ type: "tally", channel: "poll:p1", data: compactOf(9, [1, 1]) }); // does not fit the option ids: ignored
  ws.frame({ type: "tally", channel: "poll:p1", data: compactOf(5, [2, 2, 1]) });
  ws.frame({ type: "poll_closed", channel: "poll:p1", data: compactOf(6, [3, 2, 1], true) });
  assert.deepEqual(
    of("tally").map((e) => [e.tally, e.source]),
    [[full(2, [1, 0, 1]), "snapshot"], [full(3, [1, 1, 1]), "live"], [full(5, [2, 2, 1]), "live"], [full(6, [3, 2, 1], true), "live"]],
  );
  assert.deepEqual(of("poll_closed"), [{ type: "poll_closed", channel: "poll:p1", data: null, tally: full(6, [3, 2, 1], true) }]);
  assert.deepEqual(client.tally("p1"), full(6, [3, 2, 1], true));
  client.close();
});

test("compact counts without known option ids are ignored; a full tally teaches them", async () => {
  const { client, sockets, of } = await setup();
  client.subscribe("poll:p1");
  const ws = sockets[0];
  ws.frame({ type: "tally", channel: "poll:p1", data: compactOf(1, [1]) }); // no snapshot yet: nothing to expand with
  assert.equal(of("tally").length, 0);
  // A replica of an older version sends the full form; later compact counts expand with its ids.
  ws.frame({ type: "tally", channel: "poll:p1", data: tallyOf("p1", 2) });
  ws.frame({ type: "tally", channel: "poll:p1", data: compactOf(3, [3]) });
  assert.deepEqual(of("tally").map((e) => e.tally.options), [[{ option_id: "o1", vote_count: 2 }], [{ option_id: "o1", vote_count: 3 }]]);
  // A full poll_closed keeps today's event: the final results as data.
  ws.frame({ type: "poll_closed", channel: "poll:p1", data: { poll_id: "p1", results: [] } });
  assert.deepEqual(of("poll_closed").at(-1), { type: "poll_closed", channel: "poll:p1", data: { poll_id: "p1", results: [] } });
  // After an unsubscribe the option ids are forgotten with the tally.
  client.unsubscribe("poll:p1");
  client.subscribe("poll:p1");
  ws.frame({ type: "tally", channel: "poll:p1", data: compactOf(4, [4]) });
  assert.equal(of("tally").length, 2);
  client.close();
});

test("tally: \"full\" asks for nothing; URLs that choose are left alone", async () => {
  const { client, sockets } = await setup({ tally: "full" });
  assert.equal(sockets[0].url, "ws://a/v1/ws");
  client.close();
  assert.equal(withTallyForm("wss://h/v1/ws?x=1", "compact"), "wss://h/v1/ws?x=1&tally=compact");
  assert.equal(withTallyForm("wss://h/v1/ws?tally=full", "compact"), "wss://h/v1/ws?tally=full");
  assert.equal(withTallyForm("wss://h/v1/polls/p/live", "full"), "wss://h/v1/polls/p/live");
  assert.equal(expandTally("p", ["a"], { version: 1, total_votes: 1, counts: ["1"], is_closed: false }), null);
});
