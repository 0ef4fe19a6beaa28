// Integration: the client against two real `circly serve` replicas on one PostgreSQL and
// Redis, started by e2e/liveclient_test.go, which passes CIRCLY_A_URL, CIRCLY_B_URL and
// CIRCLY_A_PID. Replica A is killed mid-run; the client moves to B, resubscribes, and ends on
// the final tally the REST API reports, without ever seeing a version go down.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LiveClient } from "../dist/index.js";

const A = process.env.CIRCLY_A_URL;
const B = process.env.CIRCLY_B_URL;
const pidA = Number(process.env.CIRCLY_A_PID);

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

test("the client moves to the other replica when one is killed and ends on the final tally", { timeout: 120000 }, async () => {
  assert.ok(A && B && pidA > 0, "CIRCLY_A_URL, CIRCLY_B_URL and CIRCLY_A_PID must be set (run by e2e/liveclient_test.go)");

  // A circle of 7 (the creator and six voters) and one poll, through replica A.
  const tokens = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((i) => login(A, "u" + i)));
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
  // Voter i (1..6) votes for the option of the member before them (never their own).
  const optionFor = (i) => poll.options[(i + poll.options.length - 2) % poll.options.length].id;
  const vote = (base, i) => api(base, "POST", `/v1/polls/${poll.id}/vote`, tokens[i], { option_id: optionFor(i) });

  // Replica A first, then B; the token comes by first frame (as in a browser).
  const client = new LiveClient({
    url: [wsURL(A), wsURL(B)],
    token: () => tokens[0],
    backoff: { initialMs: 200, maxMs: 2000 },
    pingIntervalMs: 2000,
    pingTimeoutMs: 2000,
  });
  const versions = [];
  const readies = [];
  const closes = [];
  const sources = [];
  client.on("tally", (e) => {
    assert.equal(e.channel, channel);
    versions.push(e.tally.version);
    sources.push(e.source);
  });
  client.on("ready", (e) => readies.push(e.url));
  client.on("close", (e) => closes.push(e.code));
  const stoppedEarly = [];
  const offStopped = client.on("stopped", (e) => stoppedEarly.push(e));
  client.subscribe(channel);
  client.connect();

  try {
    await waitFor("the snapshot of version 0", 10000, () => client.tally(poll.id)?.version === 0);
    assert.equal(client.url, wsURL(A));

    for (const i of [1, 2, 3]) await vote(A, i);
    await waitFor("version 3 through replica A", 10000, () => client.tally(poll.id)?.version === 3);

    process.kill(pidA, "SIGKILL");
    // Votes go on through B while the client notices and reconnects: its snapshot there
    // fills the gap; the last vote reaches it as a live tally from B.
    for (const i of [4, 5]) await vote(B, i);
    await waitFor("ready on replica B", 15000, () => readies.at(-1) === wsURL(B));
    await waitFor("version 5 on replica B", 10000, () => client.tally(poll.id)?.version === 5);
    await vote(B, 6);

    const results = await api(B, "GET", `/v1/polls/${poll.id}/results`, tokens[0]);
    assert.equal(results.version, 6);
    await waitFor(`the final version ${results.version}`, 15000, () => client.tally(poll.id)?.version === results.version);

    const held = client.tally(poll.id);
    assert.equal(held.total_votes, results.total_votes);
    const counts = Object.fromEntries(held.options.map((o) => [o.option_id, o.vote_count]));
    for (const r of results.results) assert.equal(counts[r.option_id] ?? 0, r.vote_count, `option ${r.option_id}`);
    assert.equal(client.url, wsURL(B));
    assert.ok(readies[0] === wsURL(A) && readies.at(-1) === wsURL(B), `ready on ${readies}`);
    assert.ok(closes.length >= 1, "the client saw replica A's connection close");
    assert.deepEqual(stoppedEarly, [], "the client never stopped");
    assert.equal(sources.at(-1), "live", "the last vote came as a live tally from B");
    for (let i = 1; i < versions.length; i++) {
      assert.ok(versions[i] > versions[i - 1], `versions went ${versions[i - 1]} -> ${versions[i]}: ${versions}`);
    }
    console.log(`versions seen: ${versions.join(",")} (${sources.join(",")}); ready on ${readies.join(" then ")}; closes ${closes.join(",")}`);
  } finally {
    offStopped();
    client.close();
  }
});
