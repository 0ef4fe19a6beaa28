package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testproc"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestLivePageInBrowser: headless Chromium opens a real invite link, follows "웹에서 참여하기"
// to the live page, joins with a nickname, sees the polls the owner opens appear, votes, and
// sees the tally on screen move when two other members vote over REST; a poll that reaches its
// deadline shows its results. A reload keeps the membership (device id in localStorage). A
// poll hidden by reports leaves the page by itself. No
// request leaves the server's origin and no CSP violation happens. It saves a screenshot and
// logs the live page's weight on first load.
func TestLivePageInBrowser(t *testing.T) {
	exe := chromium(t)
	port := testproc.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	vars := distributedEnv(t, testdb.PostgresSchemaURL(t), "", "e2e-livepage-secret-0123456789abcdef")
	delete(vars, "REDIS_URL") // in-memory broker and limits: one replica
	vars["PORT"], vars["PUBLIC_URL"], vars["SHUTDOWN_DRAIN"] = strconv.Itoa(port), base, "1s"
	vars["POLL_MIN_DURATION"] = "2s"  // a poll that closes while the test watches
	vars["REPORT_HIDE_POLL_AT"] = "2" // two members' reports hide a poll
	p := startProcEnv(t, "live-page", port, envList(vars))
	p.waitHealthy(90 * time.Second)

	users := make([]user, 3)
	for i := range users {
		u, err := login(base, fmt.Sprintf("live-page-%d-%d", i, time.Now().UnixNano()))
		if err != nil {
			t.Fatal(err)
		}
		users[i] = u
	}
	owner, m1, m2 := users[0], users[1], users[2]
	c := must(t, 201, "POST", base+"/v1/circles", owner.Token, map[string]any{"name": "햇살반 친구들", "nickname": "m0", "max_members": 10})
	for i, u := range []user{m1, m2} {
		must(t, 200, "POST", base+"/v1/circles/join", u.Token, map[string]any{"invite_link_id": c["invite_link_id"], "nickname": fmt.Sprintf("m%d", i+1)})
	}
	link := c["invite_link"].(string)
	livePath := "/join/" + c["invite_link_id"].(string) + "/web"

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(390, 844))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses root without it (CI runs as root)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	nl := &netLog{urls: map[network.RequestID]string{}, bytes: map[network.RequestID]float64{}, failed: map[network.RequestID]string{}}
	var sockets []string // WebSocket URLs the page opened (not in the request events)
	var socketsMu sync.Mutex
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(func(ev any) {
		nl.listen(ev)
		if ws, ok := ev.(*network.EventWebSocketCreated); ok {
			socketsMu.Lock()
			sockets = append(sockets, ws.URL)
			socketsMu.Unlock()
		}
	}))
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	defer cancelTimeout()
	watchCSP := chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch})
		return chromedp.Void{}, err
	})
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return s
	}
	// waitFor polls a condition in the page for at most limit.
	waitFor := func(what, js string, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		wctx, wcancel := context.WithTimeout(ctx, limit)
		defer wcancel()
		if _, err := chromedp.Run(wctx, chromedp.Poll[bool]("!!("+js+")", chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
			t.Fatalf("%s: not within %s (%v); status %q", what, limit, err, eval(`document.getElementById('status')?.textContent || ''`))
		}
		return time.Since(start)
	}

	// First load of the live page in a fresh browser: its weight.
	run("open the live page", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(1)), watchCSP,
		chromedp.Navigate(base+livePath), chromedp.WaitVisible(chromedp.ID("nickname")))
	waitFor("the live client loaded", `performance.getEntriesByType('resource').some(e => e.name.includes('/static/circly-live.js'))`, 10*time.Second)
	time.Sleep(200 * time.Millisecond) // the favicon's loadingFinished
	logWeight(t, nl, base, "live page, first load", 60_000)

	// The way a phone without the app gets there: the invite link, then its web button.
	run("open the invite link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("open-web")))
	run("follow 웹에서 참여하기", chromedp.Click(chromedp.ID("open-web")), chromedp.WaitVisible(chromedp.ID("nickname")))
	if got := eval(`location.pathname`); got != livePath {
		t.Fatalf("the web button led to %s", got)
	}
	run("join", chromedp.SendKeys(chromedp.ID("nickname"), "웹친구"), chromedp.Click(chromedp.ID("join-button")),
		chromedp.WaitVisible(chromedp.ID("polls")))
	waitFor("the live connection", `document.getElementById('status').textContent === '실시간으로 보고 있어요.'`, 10*time.Second)
	if got := eval(`document.getElementById('no-polls').hidden ? 'shown' : 'empty'`); got != "empty" {
		t.Errorf("a circle without polls: %s", got)
	}

	// The owner opens two polls; they appear on the page by themselves (poll_created).
	tmpl := firstTemplate(t, base, owner.Token)
	pollA := must(t, 201, "POST", base+"/v1/polls", owner.Token, map[string]any{"circle_id": c["id"], "template_id": tmpl, "duration_hours": 1})
	pollB := must(t, 201, "POST", base+"/v1/polls", owner.Token, map[string]any{"circle_id": c["id"], "template_id": tmpl,
		"deadline": time.Now().Add(6 * time.Second).UTC().Format(time.RFC3339Nano)})
	a, b := pollA["id"].(string), pollB["id"].(string)
	card := func(id string) string { return `document.querySelector('[data-poll-id="` + id + `"]')` }
	waitFor("the new polls on the page", card(a)+` && `+card(b), 10*time.Second)
	option := map[string]string{} // nickname -> option id of poll A
	for _, o := range pollA["options"].([]any) {
		m := o.(map[string]any)
		option[m["member_nickname"].(string)] = m["id"].(string)
	}
	if len(option) != 3 || option["웹친구"] == "" {
		t.Fatalf("poll A options %v", option)
	}
	if got := eval(card(a) + `.querySelector('[data-option-id="` + option["웹친구"] + `"] button').disabled ? 'off' : 'on'`); got != "off" {
		t.Error("the page offers a vote for oneself")
	}

	// The browser votes for m1; then m1 and m2 vote from their own clients.
	countOf := func(nick string) string {
		return card(a) + `.querySelector('[data-option-id="` + option[nick] + `"] .count').textContent`
	}
	run("vote", chromedp.Click(chromedp.CSS(`[data-poll-id="`+a+`"] [data-option-id="`+option["m1"]+`"] button`)))
	waitFor("the own vote counted", card(a)+`.dataset.total === '1' && `+countOf("m1")+` === '1표'`, 10*time.Second)
	if got := eval(`String(document.querySelectorAll('[data-poll-id="` + a + `"] button:not(:disabled)').length)`); got != "0" {
		t.Errorf("%s vote buttons still enabled after voting", got)
	}
	must(t, 201, "POST", base+"/v1/polls/"+a+"/vote", m1.Token, map[string]any{"option_id": option["m2"]})
	took1 := waitFor("the tally after m1's vote", card(a)+`.dataset.total === '2' && `+countOf("m2")+` === '1표'`, 5*time.Second)
	must(t, 201, "POST", base+"/v1/polls/"+a+"/vote", m2.Token, map[string]any{"option_id": option["m1"]})
	took2 := waitFor("the tally after m2's vote", card(a)+`.dataset.total === '3' && `+countOf("m1")+` === '2표'`, 5*time.Second)
	t.Logf("vote over REST → tally on screen: %s and %s", took1.Round(time.Millisecond), took2.Round(time.Millisecond))
	if got := eval(card(a) + `.querySelector('.poll-meta').textContent`); !strings.Contains(got, "총 3표") {
		t.Errorf("poll A meta %q", got)
	}

	// Poll B: one vote, then the deadline passes and the page shows the final results.
	var bOpt string
	for _, o := range pollB["options"].([]any) {
		if m := o.(map[string]any); m["member_nickname"] == "m2" {
			bOpt = m["id"].(string)
		}
	}
	must(t, 201, "POST", base+"/v1/polls/"+b+"/vote", m1.Token, map[string]any{"option_id": bOpt})
	waitFor("poll B's results", card(b)+`.dataset.results === 'shown'`, 30*time.Second)
	results := eval(card(b) + `.querySelector('.results').textContent`)
	if !strings.Contains(results, "1위 m2") || !strings.Contains(results, "1표 · 100%") {
		t.Errorf("poll B results %q", results)
	}
	if got := eval(card(b) + `.querySelector('.poll-meta').textContent`); !strings.Contains(got, "마감됨") {
		t.Errorf("poll B meta %q", got)
	}

	// Anonymity: the page shows counts, never who picked whom.
	body := eval(`document.body.textContent`)
	for _, bad := range []string{"m1 →", "m2 →", "웹친구 →", m1.ID, m2.ID} {
		if strings.Contains(body, bad) {
			t.Errorf("the page shows %q", bad)
		}
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shotPath := filepath.Join(t.ArtifactDir(), "live-page.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes; keep it with go test -artifacts)", shotPath, len(shot))
	if got := eval(`JSON.stringify(window.__csp)`); got != "[]" {
		t.Errorf("CSP violations on the page: %s", got)
	}
	logWeight(t, nl, base, "join, polls, votes and results", 0)
	socketsMu.Lock()
	// The live client asks for compact tallies (docs/api.md, "Compact tallies") and expands them.
	if len(sockets) != 1 || sockets[0] != "ws://127.0.0.1:"+strconv.Itoa(port)+"/v1/ws?tally=compact" {
		t.Errorf("WebSockets opened: %v, want the one /v1/ws?tally=compact of this server", sockets)
	}
	socketsMu.Unlock()

	// A reload keeps the membership: the polls show without the join form, with the votes.
	run("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("polls")))
	waitFor("poll A after a reload", card(a)+` && `+card(a)+`.dataset.total === '3'`, 10*time.Second)
	if got := eval(`document.getElementById('join').hidden ? 'hidden' : 'shown'`); got != "hidden" {
		t.Errorf("join form %s after a reload", got)
	}
	if got := eval(`JSON.stringify(window.__csp)`); got != "[]" {
		t.Errorf("CSP violations after the reload: %s", got)
	}

	// A dead access token: the page refreshes it with the refresh token and carries on.
	eval(`(() => { const s = JSON.parse(sessionStorage.getItem('circly.session')); s.access = 'not-a-token';
		sessionStorage.setItem('circly.session', JSON.stringify(s)); return 'ok' })()`)
	logWeight(t, nl, base, "reload", 0)
	run("reload with a dead token", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("polls")))
	waitFor("poll A after the refresh", card(a)+` && `+card(a)+`.dataset.total === '3'`, 10*time.Second)
	waitFor("the live connection after the refresh", `document.getElementById('status').textContent === '실시간으로 보고 있어요.'`, 10*time.Second)
	nl.mu.Lock()
	refreshed := false
	for _, u := range nl.urls {
		refreshed = refreshed || u == base+"/v1/auth/refresh"
	}
	nl.problems = nil // the refused request with the dead token is logged by the browser
	nl.mu.Unlock()
	if !refreshed {
		t.Error("the page did not call /v1/auth/refresh after a 401")
	}

	// Two members report poll A: it is hidden, and its card leaves the page by itself (its
	// channel ends with reason "hidden" and the page reloads the list).
	for _, u := range []user{m1, m2} {
		must(t, 201, "POST", base+"/v1/reports", u.Token, map[string]any{"type": "poll", "target_id": a, "reason": "bullying"})
	}
	waitFor("the hidden poll gone from the page", `!`+card(a)+` && `+card(b), 10*time.Second)
}

// logWeight logs the bytes the tab transferred since the last call (or fails above limit when
// limit > 0), checks that every request stayed on base and none failed, and resets the log.
func logWeight(t *testing.T, nl *netLog, base, what string, limit float64) {
	t.Helper()
	nl.mu.Lock()
	defer nl.mu.Unlock()
	var total float64
	var lines []string
	for rid, u := range nl.urls {
		if !strings.HasPrefix(u, base+"/") {
			t.Errorf("request to another origin: %s", u)
		}
		if why, ok := nl.failed[rid]; ok {
			t.Errorf("request failed: %s (%s)", u, why)
		}
		total += nl.bytes[rid]
		path, _, _ := strings.Cut(strings.TrimPrefix(u, base), "?")
		lines = append(lines, path+": "+strconvF(nl.bytes[rid])+" B")
	}
	sort.Strings(lines)
	t.Logf("%s: %s bytes transferred in %d requests (%s)", what, strconvF(total), len(lines), strings.Join(lines, ", "))
	if limit > 0 && total > limit {
		t.Errorf("%s weighs %s bytes, over %s", what, strconvF(total), strconvF(limit))
	}
	if len(nl.problems) > 0 {
		t.Errorf("browser log warnings and errors: %v", nl.problems)
	}
	nl.urls, nl.bytes, nl.failed, nl.problems = map[network.RequestID]string{}, map[network.RequestID]float64{}, map[network.RequestID]string{}, nil
}
