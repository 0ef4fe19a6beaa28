package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"circly/internal/testproc"

	"github.com/coder/websocket"
)

// TestNginxInFront puts the shipped deploy/nginx.conf (only its listen port, upstream servers
// and temp paths rewritten for this machine) in front of two real replicas on PostgreSQL and
// Redis: REST and a WebSocket (upgrade, first-frame auth, subscribe, a tally) work through it,
// and /metrics, which the replicas serve on their main port here, answers 404 through it.
// Without nginx installed the test fails (Debian: apt-get install nginx; .ci/run does).
func TestNginxInFront(t *testing.T) {
	A, B := startReplicas(t)
	if r, err := rawGET(A.Port, "/metrics"); err != nil || r.status != 200 || !strings.Contains(r.body, "# HELP") {
		t.Fatalf("a replica without METRICS_ADDR should serve /metrics itself (so nginx is what hides it): %+v %v", r, err)
	}
	front := startNginx(t, A.Port, B.Port)
	base := fmt.Sprintf("http://127.0.0.1:%d", front)

	// /metrics is 404 through nginx, however the path is spelled.
	for _, target := range []string{"/metrics", "/metrics?format=text", "//metrics", "/%6Detrics", "/./metrics"} {
		r, err := rawGET(front, target)
		if err != nil {
			t.Fatalf("GET %s through nginx: %v", target, err)
		}
		if r.status != http.StatusNotFound || strings.Contains(r.body, "# HELP") {
			t.Errorf("GET %s through nginx: %d, want 404 without metrics\n%.300s", target, r.status, r.body)
		}
	}

	// REST: logins, a circle and a poll, all through nginx; nginx names each request.
	users := loginMany(t, "nginx", 3, base)
	circle := formCircle(t, base, "Behind nginx", users)
	poll := must(t, 201, "POST", base+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": circle["id"], "template_id": firstTemplate(t, base, users[0].Token), "duration_hours": 1})
	pollCh := "poll:" + poll["id"].(string)
	opts, _ := optionsOf(t, poll)
	r, err := call("GET", base+"/v1/users/me", users[1].Token, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("GET /v1/users/me through nginx: %+v %v", r, err)
	}
	if id := r.Header.Get("X-Request-ID"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("X-Request-ID %q, want nginx's $request_id passed to the replica and echoed", id)
	}

	// WebSocket: the browser way (no header, the token in the first frame), then a vote made
	// through nginx reaches the socket as a tally, whichever replica each landed on.
	ws := dialThrough(t, base)
	ws.send(map[string]any{"type": "auth", "token": users[1].Token})
	if f := ws.read(10 * time.Second); f["type"] != "ready" || f["user_id"] != users[1].ID {
		t.Fatalf("after auth through nginx: %v, want ready for %s", f, users[1].ID)
	}
	ws.subscribe(1, pollCh)
	must(t, 201, "POST", base+"/v1/polls/"+poll["id"].(string)+"/vote", users[2].Token, map[string]any{"option_id": opts[0]})
	if d := ws.untilVersion(pollCh, 1, 10*time.Second); num(d["total_votes"]) != 1 {
		t.Fatalf("tally through nginx %v, want 1 vote", d)
	}
}

// dialThrough opens /v1/ws through a proxy without credentials (first-frame auth follows).
func dialThrough(t *testing.T, base string) *wsConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatalf("WebSocket upgrade through nginx: %v (response %+v)", err, resp)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsConn{t: t, c: c}
}

func (w *wsConn) send(frame map[string]any) {
	w.t.Helper()
	b, _ := json.Marshal(frame)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

// nginxConf is the shipped file, relative to e2e/.
const nginxConf = "../deploy/nginx.conf"

// renderNginxConf rewrites the shipped config for this machine and nothing else: its listen
// port, its upstream (compose's "api" service → the replicas' ports) and, as the packaged temp
// paths belong to root, temp files under dir. Each rewritten line must be found exactly once,
// so a change to the shipped file that this test no longer understands fails here.
func renderNginxConf(t *testing.T, dir string, listen int, upstreams ...int) string {
	t.Helper()
	src, err := os.ReadFile(nginxConf)
	if err != nil {
		t.Fatal(err)
	}
	servers := ""
	for _, p := range upstreams {
		servers += fmt.Sprintf("    server 127.0.0.1:%d;\n", p)
	}
	temp := "http {\n"
	for _, kind := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		temp += fmt.Sprintf("  %s_temp_path %s;\n", kind, filepath.Join(dir, kind))
	}
	conf := string(src)
	for _, sub := range []struct{ old, new string }{
		{"    listen 80;\n", fmt.Sprintf("    listen 127.0.0.1:%d;\n", listen)},
		{"    server api:8000 resolve;\n", servers},
		{"http {\n", temp},
	} {
		if n := strings.Count(conf, sub.old); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once (update renderNginxConf)", nginxConf, sub.old, n)
		}
		conf = strings.Replace(conf, sub.old, sub.new, 1)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// nginxBinary finds nginx; Debian puts it in /usr/sbin, which a user's PATH may lack.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Fatal("nginx is not installed (Debian: apt-get install nginx); this test checks deploy/nginx.conf with it")
	return ""
}

// startNginx runs nginx (master and workers, as shipped) with the rendered config, in front of
// the given replica ports, and returns the port it listens on. It is stopped when the test ends.
func startNginx(t *testing.T, upstreams ...int) int {
	t.Helper()
	bin := nginxBinary(t)
	dir := t.TempDir()
	port := testproc.FreePort(t)
	conf := renderNginxConf(t, dir, port, upstreams...)
	// -e: the error log on stderr from the start; -g: the pid file in dir and nginx in the
	// foreground, so the test owns the master.
	args := []string{"-e", "stderr", "-p", dir, "-c", conf, "-g", "daemon off; pid " + filepath.Join(dir, "nginx.pid") + ";"}
	if out, err := exec.Command(bin, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t rejects the rendered %s: %v\n%s", nginxConf, err, out)
	}
	cmd := exec.Command(bin, args...)
	out := &testproc.Output{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the workers too can be killed by group
	p, err := testproc.Start(cmd, "nginx", 10*time.Second, 50*time.Millisecond, func(ctx context.Context) error {
		r, err := rawGET(port, "/health")
		if err == nil && r.status != 200 {
			err = fmt.Errorf("/health through nginx: %d", r.status)
		}
		return err
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Cleanup(func() {
		_ = p.P.Signal(syscall.SIGTERM) // fast shutdown: the master stops its workers
		select {
		case <-p.Exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.P.Pid, syscall.SIGKILL)
			<-p.Exited
		}
		if t.Failed() {
			t.Logf("---- nginx ----\n%s", out.String())
		}
	})
	return port
}

// rawAnswer is a status and a body read off the wire.
type rawAnswer struct {
	status int
	body   string
}

// rawGET sends target exactly as written (no client-side path cleaning or re-encoding), so
// the proxy sees spellings such as //metrics or /%6Detrics, and reads at most 1 MiB back.
func rawGET(port int, target string) (rawAnswer, error) {
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		return rawAnswer{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", target); err != nil {
		return rawAnswer{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawAnswer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return rawAnswer{}, err
	}
	return rawAnswer{status: resp.StatusCode, body: string(body)}, nil
}
