package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// cspWatch records the page's Content-Security-Policy violations in window.__csp; the browser
// runs it before the page's own scripts, outside the page's CSP.
const cspWatch = `window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`

// netLog is what the tab's network and log events said, in the order they came.
type netLog struct {
	mu       sync.Mutex
	urls     map[network.RequestID]string
	bytes    map[network.RequestID]float64 // bytes transferred (headers and body) per finished request
	failed   map[network.RequestID]string
	problems []string // log entries of level warning or error (CSP reports land here)
}

func (n *netLog) listen(ev any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		n.urls[ev.RequestID] = ev.Request.URL
	case *network.EventLoadingFinished:
		n.bytes[ev.RequestID] = ev.EncodedDataLength
	case *network.EventLoadingFailed:
		n.failed[ev.RequestID] = ev.ErrorText + " " + string(ev.BlockedReason)
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
			n.problems = append(n.problems, string(ev.Entry.Source)+": "+ev.Entry.Text)
		}
	}
}

// chromium finds Debian's chromium; the test fails without it (CI installs it in .ci/run).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed (Debian: apt-get install -y chromium); the invite page's browser test needs it")
	return ""
}

// TestInvitePageInBrowser: headless Chromium opens a real invite link as a phone would. It
// checks what the page shows, the deep link, that the stylesheet applied under the CSP, that
// no request left the server's origin and no CSP violation happened; then that the CSP does
// block a third-party image and an inline script. It saves a screenshot and logs the page
// weight (bytes transferred on first load, from the browser's network events).
func TestInvitePageInBrowser(t *testing.T) {
	exe := chromium(t)
	p, c := invitePageServer(t, "햇살반 친구들")
	link, id := c["invite_link"].(string), c["invite_link_id"].(string)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(390, 844))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses root without it (CI runs as root)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	nl := &netLog{urls: map[network.RequestID]string{}, bytes: map[network.RequestID]float64{}, failed: map[network.RequestID]string{}}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(nl.listen))
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	watchCSP := chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch})
		return chromedp.Void{}, err
	})
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(1)),
		watchCSP,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("circle-name")),
	); err != nil {
		t.Fatalf("open %s: %v", link, err)
	}

	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(sel)))
		if err != nil {
			t.Fatalf("text of #%s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return s
	}
	if got := text("circle-name"); got != "햇살반 친구들" {
		t.Errorf("circle name %q", got)
	}
	if got := text("members"); got != "멤버 2 / 10명" {
		t.Errorf("members %q", got)
	}
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("open-app"), "href"))
	if err != nil || href.Value != "circly://join/"+id {
		t.Errorf("open-app href %q (%v)", href.Value, err)
	}
	if !strings.Contains(text("get-app"), "App Store") {
		t.Error("no fallback text for a phone without the app")
	}
	if got := eval(`document.documentElement.lang`); got != "ko" {
		t.Errorf("lang %q", got)
	}
	if got := eval(`document.querySelector('meta[property="og:url"]').content`); got != link {
		t.Errorf("og:url %q", got)
	}
	// The stylesheet loaded under the CSP: the button has the page's color, not a link's.
	if got := eval(`getComputedStyle(document.getElementById('open-app')).backgroundColor`); got != "rgb(108, 76, 241)" {
		t.Errorf("button background %q: the stylesheet did not apply", got)
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shotPath := filepath.Join(t.ArtifactDir(), "invite-page.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes; keep it with go test -artifacts)", shotPath, len(shot))

	// First load: every request went to the server's own origin, and its weight.
	if got := eval(`JSON.stringify(window.__csp)`); got != "[]" {
		t.Errorf("CSP violations on the page: %s", got)
	}
	nl.mu.Lock()
	var total float64
	var lines []string
	for rid, u := range nl.urls {
		if !strings.HasPrefix(u, p.URL+"/") {
			t.Errorf("request to another origin: %s", u)
		}
		if why, ok := nl.failed[rid]; ok {
			t.Errorf("request failed: %s (%s)", u, why)
		}
		total += nl.bytes[rid]
		lines = append(lines, strings.TrimPrefix(u, p.URL)+": "+strconvF(nl.bytes[rid])+" B")
	}
	problems := append([]string(nil), nl.problems...)
	nl.urls, nl.bytes, nl.failed = map[network.RequestID]string{}, map[network.RequestID]float64{}, map[network.RequestID]string{}
	nl.mu.Unlock()
	sort.Strings(lines)
	t.Logf("page weight, first load: %s bytes transferred in %d requests (%s)", strconvF(total), len(lines), strings.Join(lines, ", "))
	if len(lines) < 2 || total == 0 {
		t.Errorf("expected the page and its stylesheet, saw %v", lines)
	}
	if total > 20_000 {
		t.Errorf("the invite page weighs %s bytes; keep it small (no framework)", strconvF(total))
	}
	if len(problems) > 0 {
		t.Errorf("browser log warnings and errors: %v", problems)
	}

	// The CSP is live: a third-party image and an inline script are refused.
	eval(`(() => {
		const img = document.createElement('img'); img.src = 'https://cdn.example.invalid/pixel.png'; document.body.append(img);
		const s = document.createElement('script'); s.textContent = 'window.__inline = "ran"'; document.body.append(s);
		return 'ok' })()`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.__csp.length >= 2`)); err != nil {
		t.Fatalf("no CSP violation reported for a third-party image and an inline script: %v", err)
	}
	violations := eval(`JSON.stringify(window.__csp)`)
	if !strings.Contains(violations, "img-src https://cdn.example.invalid/pixel.png") || !strings.Contains(violations, "script-src") {
		t.Errorf("violations %s", violations)
	}
	if got := eval(`String(window.__inline)`); got != "undefined" {
		t.Errorf("an inline script ran: %s", got)
	}
	nl.mu.Lock()
	for rid, u := range nl.urls {
		if strings.Contains(u, "example.invalid") && nl.bytes[rid] > 0 {
			t.Errorf("the third-party image was fetched: %s", u)
		}
	}
	nl.mu.Unlock()

	// An unknown link shows the friendly page in the browser too.
	if err := chromedp.Do(ctx, chromedp.Navigate(p.URL+"/join/00000000-0000-4000-8000-000000000000"),
		chromedp.WaitVisible(chromedp.ID("heading"))); err != nil {
		t.Fatal(err)
	}
	if got := text("heading"); got != "초대 링크를 찾을 수 없어요" {
		t.Errorf("404 heading %q", got)
	}
}

func strconvF(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) }
