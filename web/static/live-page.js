// The live page (/join/<invite_link_id>/web): join a circle from the browser, vote, and watch
// the released tallies move. It speaks only the public API and /v1/ws, as the apps do. Every
// text from the server goes in with textContent: nothing is ever parsed as markup.

const root = document.getElementById("live");
const linkId = root.dataset.linkId;
const circleName = root.dataset.circleName;
const $ = (id) => document.getElementById(id);
const MAX_POLLS = 10;
// The live client loads at once, by its hashed URL (cached for a year), while the page starts.
const liveModule = import(root.dataset.liveClient);

const messages = {
  INVITE_NOT_FOUND: "초대 링크를 찾을 수 없어요. 친구에게 새 링크를 받아 주세요.",
  INVITE_EXPIRED: "초대 링크의 기한이 지났어요. 친구에게 새 링크를 받아 주세요.",
  CIRCLE_FULL: "서클이 가득 찼어요.",
  NICKNAME_TAKEN: "이미 쓰이는 닉네임이에요. 다른 닉네임을 골라 주세요.",
  VALIDATION_ERROR: "닉네임은 1–20자로 적어 주세요.",
  ALREADY_VOTED: "이미 투표했어요.",
  POLL_CLOSED: "마감된 투표예요.",
  NOT_POLL_VOTER: "이 투표가 열린 뒤에 참여해서 투표할 수 없어요.",
  SELF_VOTE: "자기 자신에게는 투표할 수 없어요.",
  RATE_LIMIT_EXCEEDED: "요청이 너무 많아요. 잠시 후 다시 시도해 주세요.",
  SERVICE_UNAVAILABLE: "잠시 문제가 생겼어요. 잠시 후 다시 시도해 주세요.",
};
const explain = (err) => messages[err.code] || "문제가 생겼어요. 잠시 후 다시 시도해 주세요.";

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

// The device id stays in this browser (the same device signs in as the same user); the
// tokens only for this tab's session.
function deviceId() {
  let id = localStorage.getItem("circly.device_id");
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    id = "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("circly.device_id", id);
  }
  return id;
}

let session = JSON.parse(sessionStorage.getItem("circly.session") || "null");

function keep(d) {
  session = { access: d.access_token, refresh: d.refresh_token, userId: d.user_id || session?.userId };
  sessionStorage.setItem("circly.session", JSON.stringify(session));
}

async function signIn() {
  keep(await api("POST", "/v1/auth/device-login", { device_id: deviceId(), platform: "web" }, false));
}

// An expired access token is refreshed once; a refused refresh signs in again.
async function renew() {
  try {
    keep(await api("POST", "/v1/auth/refresh", { refresh_token: session.refresh }, false));
  } catch {
    await signIn();
  }
}

async function api(method, path, body, auth = true, retried = false) {
  const headers = {};
  if (body) headers["Content-Type"] = "application/json";
  if (auth) {
    if (!session) await signIn();
    headers.Authorization = "Bearer " + session.access;
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  } catch {
    throw new ApiError(0, "NETWORK", "network error");
  }
  const json = await res.json().catch(() => null);
  if (res.ok && json?.success) return json.data;
  if (auth && res.status === 401 && !retried) {
    await renew();
    return api(method, path, body, auth, true);
  }
  throw new ApiError(res.status, json?.error?.code || "HTTP_" + res.status, json?.error?.message);
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function status(text) {
  $("status").textContent = text;
}

// --- joining ---

const circleKey = "circly.circle." + linkId;
let circleId = localStorage.getItem(circleKey);

async function start() {
  try {
    if (circleId) {
      try {
        await showCircle();
        return;
      } catch (e) {
        if (e.status !== 403 && e.status !== 404) throw e;
        localStorage.removeItem(circleKey); // no longer a member: join again
        circleId = null;
      }
    }
    status("닉네임을 정하고 서클에 참여하세요.");
    $("join").hidden = false;
  } catch (e) {
    status(explain(e));
  }
}

$("join").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const nickname = $("nickname").value.trim();
  $("join-error").textContent = "";
  $("join-button").disabled = true;
  try {
    try {
      const d = await api("POST", "/v1/circles/join", { invite_link_id: linkId, nickname });
      circleId = d.circle.id;
    } catch (e) {
      if (e.code !== "ALREADY_MEMBER") throw e;
      circleId = await findCircle(); // joined before in this browser, the id forgotten
    }
    localStorage.setItem(circleKey, circleId);
    $("join").hidden = true;
    await showCircle();
  } catch (e) {
    $("join-error").textContent = explain(e);
  } finally {
    $("join-button").disabled = false;
  }
});

async function findCircle() {
  const d = await api("GET", "/v1/circles?limit=100");
  const c = d.circles.find((c) => c.name === circleName);
  if (!c) throw new ApiError(404, "CIRCLE_NOT_FOUND");
  return c.id;
}

// --- polls ---

const polls = new Map(); // poll id -> its card's state (renderPoll)

async function showCircle() {
  await loadPolls();
  $("polls").hidden = false;
  status("실시간으로 연결하는 중…");
  startLive();
}

// loadPolls runs one at a time: two poll_created events close together must not render a
// poll twice.
let loading = Promise.resolve();
function loadPolls() {
  loading = loading.then(loadPollsNow, loadPollsNow);
  return loading;
}

async function loadPollsNow() {
  const d = await api("GET", `/v1/polls?circle_id=${encodeURIComponent(circleId)}&status=all&limit=${MAX_POLLS}`);
  const list = $("poll-list");
  for (const p of d.polls) {
    if (!polls.has(p.id)) {
      const full = await api("GET", `/v1/polls/${p.id}`);
      polls.set(p.id, renderPoll(full));
      live?.subscribe("poll:" + p.id);
      if (full.is_closed) await showResults(p.id);
    }
    list.append(polls.get(p.id).card); // newest first, as the API lists them
  }
  // Only the newest MAX_POLLS stay on screen and subscribed.
  const listed = new Set(d.polls.map((p) => p.id));
  for (const [id, s] of polls) {
    if (listed.has(id)) continue;
    s.card.remove();
    live?.unsubscribe("poll:" + id);
    polls.delete(id);
  }
  $("no-polls").hidden = polls.size > 0;
}

function renderPoll(p) {
  const card = el("article", "poll");
  card.dataset.pollId = p.id;
  card.append(el("h2", "question", p.question_text));
  const meta = el("p", "poll-meta");
  card.append(meta);
  const ol = el("ol", "options");
  card.append(ol);
  const note = el("p", "poll-note");
  note.setAttribute("role", "status");
  card.append(note);
  const state = { card, meta, ol, note, options: new Map(), closed: p.is_closed, voted: p.user_voted, deadline: p.deadline, version: -1 };
  for (const o of p.options) {
    const row = el("li", "option");
    row.dataset.optionId = o.id;
    const name = el("span", "name", o.member_nickname + (o.is_self ? " (나)" : ""));
    const count = el("span", "count");
    const button = el("button", "vote", "투표");
    button.type = "button";
    button.disabled = o.is_self || p.user_voted || p.is_closed;
    button.addEventListener("click", () => vote(p.id, o.id));
    const bar = el("progress");
    row.append(name, count, button, bar);
    ol.append(row);
    state.options.set(o.id, { row, count, button, bar, self: o.is_self });
  }
  if (p.user_voted) note.textContent = "투표했어요.";
  applyTally(state, { version: p.version, total_votes: p.total_votes, is_closed: p.is_closed, options: p.options.map((o) => ({ option_id: o.id, vote_count: o.vote_count })) });
  return state;
}

function deadlineText(s) {
  const d = new Date(s.deadline);
  return "마감 " + d.toLocaleString("ko-KR", { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

// applyTally shows a released tally; an older version than the one on screen is ignored.
function applyTally(s, t) {
  if (t.version < s.version || s.card.dataset.results) return; // final results are on screen

  s.version = t.version;
  for (const o of t.options) {
    const opt = s.options.get(o.option_id);
    if (!opt) continue;
    opt.count.textContent = o.vote_count + "표";
    opt.bar.max = Math.max(t.total_votes, 1);
    opt.bar.value = o.vote_count;
  }
  s.card.dataset.total = String(t.total_votes);
  if (t.is_closed && !s.closed) markClosed(s);
  s.meta.textContent = (s.closed ? "마감됨" : "진행 중 · " + deadlineText(s)) + " · 총 " + t.total_votes + "표";
}

function markClosed(s) {
  s.closed = true;
  s.card.classList.add("closed");
  for (const o of s.options.values()) o.button.disabled = true;
}

async function vote(pollId, optionId) {
  const s = polls.get(pollId);
  for (const o of s.options.values()) o.button.disabled = true;
  try {
    const d = await api("POST", `/v1/polls/${pollId}/vote`, { option_id: optionId });
    s.voted = true;
    s.note.textContent = "투표했어요. 결과는 익명으로 모여요.";
    applyTally(s, d.tally);
  } catch (e) {
    s.note.textContent = explain(e);
    if (e.code === "ALREADY_VOTED" || e.code === "NOT_POLL_VOTER") s.voted = true;
    if (e.code === "POLL_CLOSED") await showResults(pollId);
    if (!s.voted && !s.closed) for (const o of s.options.values()) o.button.disabled = o.self;
  }
}

// showResults replaces a closed poll's options with its final results (ranks and counts).
async function showResults(pollId, results) {
  const s = polls.get(pollId);
  if (!s) return;
  const r = results || (await api("GET", `/v1/polls/${pollId}/results`));
  markClosed(s);
  s.card.dataset.results = "shown";
  const ol = el("ol", "options results");
  for (const o of r.results) {
    const row = el("li", "option" + (o.rank === 1 && o.vote_count > 0 ? " winner" : ""));
    row.dataset.optionId = o.option_id;
    row.append(el("span", "name", o.rank + "위 " + o.member_nickname), el("span", "count", o.vote_count + "표 · " + o.percentage + "%"), el("span"));
    const bar = el("progress");
    bar.max = Math.max(r.total_votes, 1);
    bar.value = o.vote_count;
    row.append(bar);
    ol.append(row);
  }
  s.ol.replaceWith(ol);
  s.ol = ol;
  s.card.dataset.total = String(r.total_votes);
  s.meta.textContent = "마감됨 · 최종 결과 · 총 " + r.total_votes + "표";
}

// --- live ---

let live = null;

async function startLive() {
  const { LiveClient } = await liveModule;
  live = new LiveClient({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`,
    token: async () => {
      if (!session) await signIn();
      return session.access;
    },
  });
  live.on("state", ({ state }) => {
    if (state === "ready") status("실시간으로 보고 있어요.");
    else if (state === "waiting") status("연결이 끊겼어요. 다시 연결하는 중…");
  });
  live.on("tally", ({ tally }) => {
    const s = polls.get(tally.poll_id);
    if (s) applyTally(s, tally);
  });
  live.on("poll_closed", ({ channel, data }) => {
    showResults(channel.slice("poll:".length), data).catch((e) => status(explain(e)));
  });
  live.on("event", ({ event }) => {
    if (event === "poll_created" || event === "poll_closed") loadPolls().catch((e) => status(explain(e)));
  });
  live.on("unsubscribed", ({ channel, reason }) => {
    // The server ended a poll's channel (deleted, or hidden by reports): the list drops it.
    if (reason && channel.startsWith("poll:")) loadPolls().catch((e) => status(explain(e)));
  });
  live.on("stopped", async ({ reason }) => {
    if (reason !== "unauthorized") {
      status("실시간 연결이 끊겼어요. 페이지를 새로 고침해 주세요.");
      return;
    }
    await renew(); // the access token expired: a new one, a new connection
    startLive();
  });
  live.subscribe("circle:" + circleId);
  for (const id of polls.keys()) live.subscribe("poll:" + id);
  live.connect();
}

start();
