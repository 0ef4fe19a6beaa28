// Integration: the client against three real `circly serve` replicas on one PostgreSQL and
// Redis, started by e2e/liveclient_test.go, which passes CIRCLY_URLS (A,B,C), CIRCLY_KILL_PID
// (A) and CIRCLY_TERM_PID (B). Replica A is killed mid-run: the client moves to B and
// resubscribes. B is then shut down (SIGTERM): its reconnect frame moves the client to C. Votes
// go on throughout, and the client ends on the final tally the REST API reports, without ever
// seeing a version go down.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LiveClient } from "../dist/index.js";

const [A, B, C] = (process.env.CIRCLY_URLS ?? "").split(",");
const killPid = Number(process.env.CIRCLY_KILL_PID);
const termPid = Number(process.env.CIRCLY_TERM_PID);

async function api(base, method, path, token, body) {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json.data;
}

async function login(base, name) {
  const d = await api(base, "POST", "/v1/auth/device-login", "", {
    device_id: `liveclient-${name}-${Date.now()}-${Math.random()}`,
    platform: "web",
  });
  return d.access_token;
}

// waitFor polls cond every 20 ms until it holds or ms pass.
async function waitFor(what, ms, cond) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const wsURL = (base) => base.replace(/^http/, "ws") + "/v1/ws";

test("the client survives a killed replica and a drained one, and ends on the final tally", { timeout: 120000 }, async () => {
  assert.ok(A && B && C && killPid > 0 && termPid > 0,
    "CIRCLY_URLS (three), CIRCLY_KILL_PID and CIRCLY_TERM_PID must be set (run by e2e/liveclient_test.go)");

  // A circle of 9 (the creator and eight voters) and one poll, through replica A.
  const tokens = await Promise.all([...Array(9).keys()].map((i) => login(A, "u" + i)));
  const circle = await api(A, "POST", "/v1/circles", tokens[0], { name: "Live client", nickname: "m0" });
  for (let i = 1; i < tokens.length; i++) {
    await api(A, "POST", "/v1/circles/join", tokens[i], { invite_code: circle.invite_code, nickname: "m" + i });
  }
  const templates = await api(A, "GET", "/v1/templates?limit=1", tokens[0]);
  const poll = await api(A, "POST", "/v1/polls", tokens[0], {
    circle_id: circle.id,
    template_id: templates.templates[0].id,
    duration_hours: 1,
  });
  const channel = "poll:" + poll.id;
  // Options are members 1..8 in join order; voter i votes for member i-1's option (never their own).
  const optionFor = (i) => poll.options[(i + poll.options.length - 2) % poll.options.length].id;
  const vote = (base, i) => api(base, "POST", `/v1/polls/${poll.id}/vote`, tokens[i], { option_id: optionFor(i) });

  // Replicas in order; the token comes by first frame (as in a browser).
  const client = new LiveClient({
    url: [A, B, C].map(wsURL),
    token: () => tokens[0],
    backoff: { initialMs: 200, maxMs: 2000 },
    pingIntervalMs: 2000,
    pingTimeoutMs: 2000,
  });
  const versions = [];
  const sources = [];
  const readies = [];
  const closes = [];
  const moves = [];
  const stoppedEarly = [];
  client.on("tally", (e) => {
    assert.equal(e.channel, channel);
    versions.push(e.tally.version);
    sources.push(e.source);
  });
  const readyAt = new Map(); // url -> time of ready there
  client.on("ready", (e) => {
    readies.push(e.url);
    readyAt.set(e.url, Date.now());
  });
  client.on("close", (e) => closes.push(`${e.code}/${e.kind}`));
  client.on("reconnect_requested", (e) => moves.push(e.reason));
  const offStopped = client.on("stopped", (e) => stoppedEarly.push(e));
  client.subscribe(channel);
  client.connect();

  try {
    await waitFor("the snapshot of version 0", 10000, () => client.tally(poll.id)?.version === 0);
    assert.equal(client.url, wsURL(A));
    for (const i of [1, 2, 3]) await vote(A, i);
    await waitFor("version 3 through replica A", 10000, () => client.tally(poll.id)?.version === 3);

    // A dies. Votes go on through B while the client notices and reconnects: its snapshot
    // there fills the gap; the next vote reaches it as a live tally from B.
    const killedAt = Date.now();
    process.kill(killPid, "SIGKILL");
    for (const i of [4, 5]) await vote(B, i);
    await waitFor("ready on replica B", 15000, () => readies.at(-1) === wsURL(B));
    await waitFor("version 5 on replica B", 10000, () => client.tally(poll.id)?.version === 5);
    await vote(B, 6);
    await waitFor("version 6 live from replica B", 10000, () => client.tally(poll.id)?.version === 6);

    // B shuts down: it sends `reconnect` within its drain; the client moves to C.
    const termAt = Date.now();
    process.kill(termPid, "SIGTERM");
    await waitFor("the reconnect frame and ready on replica C", 15000, () => readies.at(-1) === wsURL(C));
    assert.deepEqual(moves, ["shutdown"]);
    for (const i of [7, 8]) await vote(C, i);

    const results = await api(C, "GET", `/v1/polls/${poll.id}/results`, tokens[0]);
    assert.equal(results.version, 8);
    await waitFor(`the final version ${results.version}`, 15000, () => client.tally(poll.id)?.version === results.version);

    const held = client.tally(poll.id);
    assert.equal(held.total_votes, results.total_votes);
    const counts = Object.fromEntries(held.options.map((o) => [o.option_id, o.vote_count]));
    for (const r of results.results) assert.equal(counts[r.option_id] ?? 0, r.vote_count, `option ${r.option_id}`);
    assert.equal(client.url, wsURL(C));
    assert.deepEqual(readies, [A, B, C].map(wsURL), "ready once on each replica, in order");
    assert.ok(closes.includes("1001/going_away"), `B's connection was left on its reconnect frame: ${closes}`);
    assert.deepEqual(stoppedEarly, [], "the client never stopped");
    assert.equal(sources.at(-1), "live", "the last vote came as a live tally from C");
    for (let i = 1; i < versions.length; i++) {
      assert.ok(versions[i] > versions[i - 1], `versions went ${versions[i - 1]} -> ${versions[i]}: ${versions}`);
    }
    console.log(`versions seen: ${versions.join(",")} (${sources.join(",")}); closes ${closes.join(",")}`);
    console.log(`ready on B ${readyAt.get(wsURL(B)) - killedAt} ms after A was killed; ` +
      `ready on C ${readyAt.get(wsURL(C)) - termAt} ms after B got SIGTERM (drain 2 s)`);
  } finally {
    offStopped();
    client.close();
  }
});
