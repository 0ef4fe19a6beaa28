package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testproc"
	"circly/internal/testredis"
)

// oneLine fails unless the trimmed stderr of a refused start is exactly one line holding want.
func oneLine(t *testing.T, res result, want string) {
	t.Helper()
	if res.Code == 0 {
		t.Fatalf("exit code 0, want non-zero\nstderr:\n%s", res.Stderr)
	}
	msg := strings.TrimSpace(res.Stderr)
	if strings.Contains(msg, "\n") {
		t.Errorf("stderr is not one line:\n%s", msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("stderr %q does not mention %s", msg, want)
	}
}

func TestVersionCommand(t *testing.T) {
	res := runCmd(t, nil, 10*time.Second, "version")
	if res.Code != 0 || strings.TrimSpace(res.Stdout) != "circly "+buildVersion {
		t.Fatalf("circly version: code %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
	}
	if res := runCmd(t, nil, 10*time.Second, "help"); res.Code != 0 || !strings.Contains(res.Stdout, "migrate") {
		t.Errorf("circly help: code %d stdout %q", res.Code, res.Stdout)
	}
	if res := runCmd(t, map[string]string{"DATA_DIR": t.TempDir()}, 10*time.Second, "frobnicate"); res.Code == 0 ||
		!strings.Contains(res.Stderr, "frobnicate") {
		t.Errorf("unknown command: code %d stderr %q", res.Code, res.Stderr)
	}
	if res := runCmd(t, map[string]string{"DATA_DIR": t.TempDir()}, 10*time.Second, "migrate"); res.Code == 0 ||
		!strings.Contains(res.Stderr, "migrate up|down|status") {
		t.Errorf("migrate without action: code %d stderr %q", res.Code, res.Stderr)
	}
}

// TestEmbeddedDefault: with nothing but DATA_DIR and PORT the binary runs on SQLite with no
// other server, and the whole product loop works through it.
func TestEmbeddedDefault(t *testing.T) {
	dataDir := t.TempDir()
	port := testproc.FreePort(t)
	env := []string{"DATA_DIR=" + dataDir, "PORT=" + strconv.Itoa(port)}
	p := startProcEnv(t, "embedded", port, env)
	p.waitHealthy(60 * time.Second)
	base := p.URL

	if _, err := os.Stat(filepath.Join(dataDir, "circly.db")); err != nil {
		t.Errorf("SQLite file not under DATA_DIR: %v", err)
	}
	if !strings.Contains(p.stderr.String(), "SECRET_KEY") {
		t.Errorf("development without SECRET_KEY must say it made a random key; stderr:\n%s", p.stderr.String())
	}
	h := must200Raw(t, base+"/health")
	if h["status"] != "ok" || h["version"] != buildVersion || h["environment"] != "development" {
		t.Errorf("/health = %v", h)
	}
	hd := must200Raw(t, base+"/health/detailed")
	if svc, _ := hd["services"].(map[string]any); svc == nil || svc["redis"].(map[string]any)["status"] != "disabled" ||
		svc["database"].(map[string]any)["status"] != "ok" {
		t.Errorf("/health/detailed = %v", hd)
	}

	// Device login, a circle of three, a poll, votes, results.
	users := make([]user, 3)
	for i := range users {
		u, err := login(base, fmt.Sprintf("embedded-device-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		users[i] = u
	}
	again, err := login(base, "embedded-device-0")
	if err != nil || again.ID != users[0].ID {
		t.Fatalf("same device_id must be the same user: %v %v", again.ID, err)
	}
	c := must(t, 201, "POST", base+"/v1/circles", users[0].Token, map[string]any{"name": "Embedded", "max_members": 10, "nickname": "host"})
	for i := 1; i < 3; i++ {
		d := must(t, 200, "POST", base+"/v1/circles/join", users[i].Token,
			map[string]any{"invite_code": strings.ToLower(c["invite_code"].(string)), "nickname": fmt.Sprintf("guest%d", i)})
		users[i].MemberID = d["membership"].(map[string]any)["id"].(string)
	}
	tmpl := firstTemplate(t, base, users[0].Token)
	poll := must(t, 201, "POST", base+"/v1/polls", users[0].Token,
		map[string]any{"circle_id": c["id"], "template_id": tmpl, "duration_hours": 3})
	pollID := poll["id"].(string)
	ids, mids := optionsOf(t, poll)
	if len(ids) != 2 || mids[0] != users[1].MemberID || mids[1] != users[2].MemberID {
		t.Fatalf("options %v / %v, want the two joiners in join order", ids, mids)
	}
	// Own option: 400 SELF_VOTE.
	if r, err := call("POST", base+"/v1/polls/"+pollID+"/vote", users[1].Token, map[string]any{"option_id": ids[0]}); err != nil ||
		r.Status != 400 || r.Code() != "SELF_VOTE" {
		t.Errorf("self vote: %d %s %v", r.Status, r.Raw, err)
	}
	// Default TALLY_RELEASE_BATCH is 3: the tally stays at version 0 until the third vote.
	votes := []struct {
		voter  int
		option string
	}{{1, ids[1]}, {2, ids[0]}, {0, ids[0]}}
	for n, v := range votes {
		d := must(t, 201, "POST", base+"/v1/polls/"+pollID+"/vote", users[v.voter].Token, map[string]any{"option_id": v.option})
		tally := d["tally"].(map[string]any)
		wantVersion, wantTotal := 0, 0
		if n == 2 {
			wantVersion, wantTotal = 1, 3
		}
		if num(tally["version"]) != wantVersion || num(tally["total_votes"]) != wantTotal {
			t.Errorf("vote %d: released tally %v, want version %d total %d", n+1, tally, wantVersion, wantTotal)
		}
	}
	if r, err := call("POST", base+"/v1/polls/"+pollID+"/vote", users[1].Token, map[string]any{"option_id": ids[1]}); err != nil ||
		r.Status != 409 || r.Code() != "ALREADY_VOTED" {
		t.Errorf("second vote: %d %s %v", r.Status, r.Raw, err)
	}
	res := must(t, 200, "GET", base+"/v1/polls/"+pollID+"/results", users[2].Token, nil)
	if num(res["total_votes"]) != 3 {
		t.Fatalf("results %v", res)
	}
	if w, _ := res["winner"].(map[string]any); w == nil || w["option_id"] != ids[0] || num(w["vote_count"]) != 2 {
		t.Errorf("winner %v, want option %s with 2 votes", res["winner"], ids[0])
	}

	// A restart keeps the data; the generated key is new, so old tokens stop working.
	p.signal(syscall.SIGTERM)
	if code, ok := p.wait(15 * time.Second); !ok || code != 0 {
		t.Fatalf("SIGTERM: exit code %d (exited %v)", code, ok)
	}
	p2 := startProcEnv(t, "embedded-restarted", port, env)
	p2.waitHealthy(60 * time.Second)
	if r, err := call("GET", base+"/v1/users/me", users[0].Token, nil); err != nil || r.Status != 401 {
		t.Errorf("token from before the restart: %d %s %v", r.Status, r.Raw, err)
	}
	u0, err := login(base, "embedded-device-0")
	if err != nil || u0.ID != users[0].ID {
		t.Fatalf("after restart the device is another user: %v %v", u0.ID, err)
	}
	res = must(t, 200, "GET", base+"/v1/polls/"+pollID+"/results", u0.Token, nil)
	if num(res["total_votes"]) != 3 {
		t.Errorf("after restart: results %v", res)
	}
}

func must200Raw(t *testing.T, url string) map[string]any {
	t.Helper()
	r, err := call("GET", url, "", nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("GET %s: %d %s %v", url, r.Status, r.Raw, err)
	}
	return r.Body
}

func TestMigrateCommands(t *testing.T) {
	pg := testdb.PostgresSchemaURL(t)
	vars := map[string]string{"DATABASE_URL": pg, "DATA_DIR": t.TempDir(), "LOG_LEVEL": "warn"}
	migrate := func(action string) result {
		t.Helper()
		res := runCmd(t, vars, 60*time.Second, "migrate", action)
		if res.Code != 0 {
			t.Fatalf("migrate %s: exit %d\nstdout:\n%s\nstderr:\n%s", action, res.Code, res.Stdout, res.Stderr)
		}
		return res
	}
	// statusLines maps each migration version to its state word (pending or applied).
	statusLines := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(migrate("status").Stdout), "\n") {
			f := strings.Fields(line)
			if len(f) < 3 {
				t.Fatalf("status line %q", line)
			}
			out[f[0]] = f[2]
		}
		return out
	}

	st := statusLines()
	if len(st) < 2 {
		t.Fatalf("status lists %d migrations, want at least 2: %v", len(st), st)
	}
	for v, s := range st {
		if s != "pending" {
			t.Errorf("fresh schema: %s is %s, want pending", v, s)
		}
	}
	total := len(st)
	up := migrate("up")
	if n := strings.Count(up.Stdout, "applied "); n != total {
		t.Errorf("migrate up applied %d, want %d:\n%s", n, total, up.Stdout)
	}
	// The vote's functions are generated by the binary: the first `up` replaces the bodies
	// migration 00007 wrote, and says so.
	for _, fn := range []string{"circly_vote", "circly_open"} {
		if !strings.Contains(up.Stdout, "installed this binary's "+fn) {
			t.Errorf("migrate up did not install %s:\n%s", fn, up.Stdout)
		}
	}
	if again := migrate("up"); !strings.Contains(again.Stdout, "up to date") {
		t.Errorf("second migrate up: %q", again.Stdout)
	}
	for v, s := range statusLines() {
		if s != "applied" {
			t.Errorf("after up: %s is %s", v, s)
		}
	}
	down := migrate("down")
	if !strings.Contains(down.Stdout, "rolled back") {
		t.Errorf("migrate down: %q", down.Stdout)
	}
	st = statusLines()
	pending := 0
	var last string
	for v, s := range st {
		if s == "pending" {
			pending++
		}
		if v > last {
			last = v
		}
	}
	if pending != 1 || st[last] != "pending" {
		t.Errorf("after down: %v, want only the newest (%s) pending", st, last)
	}

	// A production replica never serves a schema that is behind: it says to migrate.
	prod := map[string]string{
		"ENV": "production", "DATABASE_URL": pg, "REDIS_URL": testredis.New(t).URL(), "LOG_LEVEL": "warn",
		"SECRET_KEY": strings.Repeat("k", 40), "DATA_DIR": t.TempDir(),
	}
	port := testproc.FreePort(t)
	prod["PORT"] = strconv.Itoa(port)
	res := runCmd(t, prod, 60*time.Second, "serve")
	if res.Code == 0 {
		t.Fatalf("production serve on a schema that is behind started (exit 0)\nstderr:\n%s", res.Stderr)
	}
	if !hasLine(res.Stderr, "migrate up") {
		t.Errorf("refusal does not mention `migrate up`:\n%s", res.Stderr)
	}

	up = migrate("up")
	if n := strings.Count(up.Stdout, "applied "); n != 1 {
		t.Errorf("migrate up after down applied %d, want 1:\n%s", n, up.Stdout)
	}
	// Rolling back 00007 (the vote functions) and applying it again leaves its bodies, which
	// `up` replaces; a newer migration on top leaves the functions untouched.
	reinstalled := strings.Contains(up.Stdout, "installed this binary's circly_vote")
	if strings.Contains(down.Stdout, "00007_") && !reinstalled {
		t.Errorf("migrate up after down left 00007's circly_vote:\n%s", up.Stdout)
	}
	if !strings.Contains(down.Stdout, "00007_") && reinstalled {
		t.Errorf("migrate up reinstalled circly_vote though %q did not touch it:\n%s", down.Stdout, up.Stdout)
	}
	// Now it starts, without migrating by itself.
	delete(prod, "PORT")
	p := startServer(t, "production", prod)
	if h := must200Raw(t, p.URL+"/health"); h["environment"] != "production" {
		t.Errorf("/health = %v", h)
	}
}

func hasLine(s, want string) bool {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, want) {
			return true
		}
	}
	return false
}

func TestProductionRefusesWeakConfig(t *testing.T) {
	// Nothing is contacted: the settings are refused before any connection.
	t.Run("no DATABASE_URL", func(t *testing.T) {
		res := runCmd(t, map[string]string{"ENV": "production", "DATA_DIR": t.TempDir()}, 20*time.Second, "serve")
		oneLine(t, res, "DATABASE_URL")
	})
	t.Run("short SECRET_KEY", func(t *testing.T) {
		res := runCmd(t, map[string]string{
			"ENV": "production", "DATA_DIR": t.TempDir(), "SECRET_KEY": "too-short",
			"DATABASE_URL": "postgres://circly:pw@127.0.0.1:1/circly", "REDIS_URL": "redis://127.0.0.1:1/0",
		}, 20*time.Second, "serve")
		oneLine(t, res, "SECRET_KEY")
		if strings.Contains(res.Stderr, "DATABASE_URL") || strings.Contains(res.Stderr, "too-short") {
			t.Errorf("stderr names a setting that is fine or leaks the key: %q", res.Stderr)
		}
	})
	t.Run("bad PORT", func(t *testing.T) {
		res := runCmd(t, map[string]string{"PORT": "abc", "DATA_DIR": t.TempDir()}, 20*time.Second, "serve")
		oneLine(t, res, "PORT")
	})
	t.Run("bad ENV", func(t *testing.T) {
		res := runCmd(t, map[string]string{"ENV": "prod", "DATA_DIR": t.TempDir()}, 20*time.Second, "serve")
		oneLine(t, res, "ENV")
	})
}

func TestHealthcheckCommand(t *testing.T) {
	p := startServer(t, "healthcheck-target", map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "warn"})
	res := runCmd(t, map[string]string{"PORT": strconv.Itoa(p.Port), "DATA_DIR": t.TempDir()}, 20*time.Second, "healthcheck")
	if res.Code != 0 {
		t.Errorf("healthcheck against a running server: exit %d, stderr %q", res.Code, res.Stderr)
	}
	res = runCmd(t, map[string]string{"PORT": strconv.Itoa(testproc.FreePort(t)), "DATA_DIR": t.TempDir()}, 20*time.Second, "healthcheck")
	if res.Code == 0 {
		t.Errorf("healthcheck with nothing listening: exit 0")
	}
	if !strings.Contains(res.Stderr, "healthcheck") {
		t.Errorf("healthcheck failure says %q", res.Stderr)
	}
}

// TestGracefulShutdown: SIGTERM while requests are in flight. Those requests finish, the
// process exits 0 within a few seconds, and nothing answered is broken.
func TestGracefulShutdown(t *testing.T) {
	// SHUTDOWN_DELAY keeps the replica serving with /health at 503 for a load balancer that polls.
	p := startServer(t, "graceful", map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "warn", "SHUTDOWN_DELAY": "1s"})
	fresh := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	// Slow requests: device logins whose bodies trickle in over ~1.5 s.
	const slow = 3
	type slowResult struct {
		status int
		body   string
		err    error
	}
	slowRes := make([]slowResult, slow)
	var wg, onWire sync.WaitGroup
	for i := range slow {
		wg.Add(1)
		onWire.Add(1)
		go func() {
			defer wg.Done()
			pr, pw := io.Pipe()
			go func() {
				_, _ = fmt.Fprintf(pw, `{"device_id": "slow-device-%d"`, i)
				// A pipe write returns once the transport has taken the bytes for the socket.
				onWire.Done()
				for range 15 {
					time.Sleep(100 * time.Millisecond)
					if _, err := pw.Write([]byte(" ")); err != nil {
						return
					}
				}
				_, _ = pw.Write([]byte(`, "platform": "ios"}`))
				_ = pw.Close()
			}()
			req, _ := http.NewRequest("POST", p.URL+"/v1/auth/device-login", pr)
			req.Header.Set("Content-Type", "application/json")
			resp, err := fresh.Do(req)
			if err != nil {
				slowRes[i].err = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			slowRes[i] = slowResult{status: resp.StatusCode, body: string(b), err: err}
		}()
	}

	// A steady stream of health checks around the signal.
	type probe struct {
		afterSignal bool // the probe finished after SIGTERM was sent
		status      int
		err         error
	}
	var (
		mu     sync.Mutex
		probes []probe
		sigAt  time.Time // zero until the signal goes out
	)
	stop := make(chan struct{})
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := fresh.Get(p.URL + "/health")
			pr := probe{err: err}
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				pr.status = resp.StatusCode
			}
			mu.Lock()
			pr.afterSignal = !sigAt.IsZero()
			probes = append(probes, pr)
			mu.Unlock()
		}
	}()

	onWire.Wait()
	time.Sleep(200 * time.Millisecond) // the server is reading the slow bodies
	mu.Lock()
	sigAt = time.Now()
	mu.Unlock()
	p.signal(syscall.SIGTERM)
	code, exited := p.wait(10 * time.Second)
	took := time.Since(sigAt)
	close(stop)
	<-probeDone
	wg.Wait()

	if !exited {
		t.Fatalf("still running 10 s after SIGTERM")
	}
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if took > 5*time.Second {
		t.Errorf("shutdown took %s, want a few seconds at most", took)
	}
	for i, r := range slowRes {
		if r.err != nil || r.status != 200 || !strings.Contains(r.body, "access_token") {
			t.Errorf("in-flight request %d did not finish: status %d err %v body %q", i, r.status, r.err, r.body)
		}
	}
	var ok, draining, refused int
	for _, pr := range probes {
		switch {
		case pr.err != nil && pr.afterSignal:
			refused++ // the listener is closed
		case pr.err != nil:
			t.Errorf("health probe before SIGTERM failed: %v", pr.err)
		case pr.status == 200:
			ok++
		case pr.status == 503 && pr.afterSignal:
			draining++
		default:
			t.Errorf("health probe (after signal %v): status %d", pr.afterSignal, pr.status)
		}
	}
	t.Logf("shutdown took %s; health probes: %d ok, %d draining (503), %d refused after SIGTERM", took.Round(time.Millisecond), ok, draining, refused)
	if ok == 0 {
		t.Error("no health probe succeeded before SIGTERM")
	}
	if draining == 0 {
		t.Error("/health never answered 503 during the SHUTDOWN_DELAY window")
	}
	if strings.Contains(p.stderr.String(), "panic") {
		t.Errorf("stderr mentions a panic:\n%s", p.stderr.String())
	}
}

// TestConcurrentMigrateUp: replicas (or release jobs) that migrate one fresh schema at the same
// time apply each migration exactly once (goose holds a PostgreSQL advisory lock).
func TestConcurrentMigrateUp(t *testing.T) {
	pg := testdb.PostgresSchemaURL(t)
	vars := map[string]string{"DATABASE_URL": pg, "DATA_DIR": t.TempDir(), "LOG_LEVEL": "warn"}
	const n = 3
	results := make([]result, n)
	errs := make([]error, n)
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = execCmd(dirs[i], vars, 90*time.Second, "migrate", "up")
		}()
	}
	wg.Wait()
	applied := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if r.Code != 0 {
			t.Errorf("migrate up #%d: exit %d\nstdout:\n%s\nstderr:\n%s", i, r.Code, r.Stdout, r.Stderr)
		}
		applied += strings.Count(r.Stdout, "applied ")
	}
	st := runCmd(t, vars, 60*time.Second, "migrate", "status")
	lines := strings.Split(strings.TrimSpace(st.Stdout), "\n")
	if applied != len(lines) || strings.Contains(st.Stdout, "pending") {
		t.Errorf("%d migrations applied in total by %d concurrent runs, want each of the %d exactly once; status:\n%s",
			applied, n, len(lines), st.Stdout)
	}
}
