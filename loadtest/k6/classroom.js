// Classroom live-tally scenario for k6 (https://k6.io), the same shape as
// `circly-loadgen -scenario classroom`: every member of every circle watches its circle's polls
// over one WebSocket on replica B and casts one vote per poll through REST on replica A; the
// votes of all members are spread evenly over the window, circle after circle.
//
// k6 virtual users cannot share state, so the circles come from a fixtures file written by
// the generator (it holds access tokens: keep it out of the repository):
//
//   circly-loadgen -scenario fixtures -vote http://127.0.0.1:8001 -circles 200 -members 10 \
//       -rate 200 -duration 60s -fixtures /tmp/classroom.json
//   k6 run -e FIXTURES=/tmp/classroom.json -e VOTE_URL=http://127.0.0.1:8001 \
//       -e WATCH_URL=http://127.0.0.1:8002 -e WINDOW=60 loadtest/k6/classroom.js
//
// Latency here is each voter's own vote → the moment its own watcher holds that vote's version
// (one sample per vote); the Go generator measures every (vote, watcher) pair.

import http from 'k6/http';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter, Trend } from 'k6/metrics';
import { setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';

const circles = new SharedArray('circles', () => JSON.parse(open(__ENV.FIXTURES)).circles);
const C = circles.length;
const M = circles[0].members.length;
const P = circles[0].polls.length;
const VOTE_URL = __ENV.VOTE_URL || 'http://127.0.0.1:8001';
const WATCH_URL = __ENV.WATCH_URL || VOTE_URL;
const RAMP = Number(__ENV.RAMP || 30); // seconds for every watcher to connect before votes start
const WINDOW = Number(__ENV.WINDOW || 60); // seconds the votes are spread over
const SETTLE = Number(__ENV.SETTLE || 5); // quiet seconds before the stale check
const RATE = (C * M * P) / WINDOW; // votes per second

const voteToTally = new Trend('vote_to_tally', true);
const tallies = new Counter('tallies_received');
const staleWatchers = new Counter('stale_watchers');
const voteErrors = new Counter('vote_errors');
const frameErrors = new Counter('error_frames');
const subscribed = new Counter('watchers_subscribed');

export const options = {
  scenarios: {
    classroom: {
      executor: 'per-vu-iterations',
      vus: C * M,
      iterations: 1,
      maxDuration: `${RAMP + WINDOW + SETTLE + 60}s`,
    },
  },
  thresholds: {
    vote_to_tally: ['p(99)<25'],
    stale_watchers: ['count==0'],
    vote_errors: ['count==0'],
    error_frames: ['count==0'],
    [`watchers_subscribed`]: [`count==${C * M}`],
  },
  summaryTrendStats: ['min', 'med', 'p(90)', 'p(99)', 'max', 'count'],
};

export default function () {
  const i = exec.vu.idInTest - 1;
  const c = Math.floor(i / M);
  const j = i % M;
  const circle = circles[c];
  const me = circle.members[j];
  const auth = { Authorization: `Bearer ${me.token}` };
  const held = {}; // poll id → highest version held
  const waiting = {}; // poll id → votes whose version is not held yet: [{v, t0}]
  let acks = 0;

  const settle = (pid) => {
    const now = Date.now();
    waiting[pid] = (waiting[pid] || []).filter((x) => {
      if (held[pid] >= x.v) {
        voteToTally.add(now - x.t0);
        return false;
      }
      return true;
    });
  };

  const ws = new WebSocket(`${WATCH_URL.replace(/^http/, 'ws')}/v1/ws`, null, { headers: auth });
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    switch (f.type) {
      case 'ready':
        circle.polls.forEach((p, k) =>
          ws.send(JSON.stringify({ type: 'subscribe', id: k + 1, channel: `poll:${p.id}` })));
        return;
      case 'subscribed':
      case 'tally':
      case 'poll_closed': {
        if (f.type === 'subscribed') {
          acks += 1;
          if (acks === P) subscribed.add(1);
        } else {
          tallies.add(1);
        }
        const pid = f.channel.slice('poll:'.length);
        if (f.data.version > (held[pid] ?? -1)) {
          held[pid] = f.data.version;
          settle(pid);
        }
        return;
      }
      case 'error':
        frameErrors.add(1, { code: f.code });
        return;
      default:
    }
  };
  ws.onerror = (e) => frameErrors.add(1, { code: String(e.error) });

  const vote = async (p) => {
    const opt = p.options.find((o, k) => o.member_id !== me.member_id && k >= (j + P) % p.options.length)
      || p.options.find((o) => o.member_id !== me.member_id);
    const t0 = Date.now();
    const res = await http.asyncRequest('POST', `${VOTE_URL}/v1/polls/${p.id}/vote`,
      JSON.stringify({ option_id: opt.id }),
      { headers: { ...auth, 'Content-Type': 'application/json' }, tags: { name: 'vote' } });
    if (res.status !== 201) {
      voteErrors.add(1, { status: String(res.status) });
      return;
    }
    (waiting[p.id] = waiting[p.id] || []).push({ v: res.json('data.tally.version'), t0 });
    settle(p.id);
  };

  // Ballot k of the whole run (round r, member j, circle c, as circly-loadgen orders them)
  // leaves at RAMP + k / RATE seconds after the scenario started.
  const start = exec.scenario.startTime;
  circle.polls.forEach((p, r) => {
    const k = r * C * M + j * C + c;
    setTimeout(() => vote(p), Math.max(0, start + (RAMP + k / RATE) * 1000 - Date.now()));
  });

  // Once every vote is in and the settle time has passed, compare what this watcher holds with
  // the version the server reports; anything older is a stale watcher.
  setTimeout(async () => {
    let stale = false;
    for (const p of circle.polls) {
      const res = await http.asyncRequest('GET', `${WATCH_URL}/v1/polls/${p.id}`, null,
        { headers: auth, tags: { name: 'poll' } });
      if (res.status !== 200 || (held[p.id] ?? -1) < res.json('data.version')) stale = true;
    }
    staleWatchers.add(stale ? 1 : 0);
    ws.close();
  }, Math.max(0, start + (RAMP + WINDOW + SETTLE) * 1000 - Date.now()));
}
