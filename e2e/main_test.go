// Package e2e_test runs the real circly binary as separate processes: one or two replicas on
// a shared PostgreSQL schema and Redis, or the embedded SQLite mode, plus the sub-commands.
//
// The binary is built once (without -race, so it starts fast) by TestMain.
package e2e_test

import (
	"bytes"
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"circly/internal/testproc"
)

// buildVersion is stamped into the binary with -ldflags, so the tests also check that it lands.
const buildVersion = "e2e-test-1.2.3"

// binary is the path of the circly binary built by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "circly-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: find module root:", err)
		return 1
	}
	binary = filepath.Join(dir, "circly")
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+buildVersion, "-o", binary, "./cmd/circly")
	build.Dir = root
	// The test binary may run with -race; the server binary is built without it (fast).
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/circly: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot is the directory of go.mod (the tests run in e2e/).
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	abs, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
		return "", err
	}
	return abs, nil
}

// baseEnv is what every child process gets besides its settings: nothing of the test
// runner's environment leaks in (a DATABASE_URL set in CI, say).
func baseEnv() []string {
	// Pushes never go to the real Expo service from tests: nothing listens on port 9.
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "TZ=UTC",
		"EXPO_PUSH_URL=http://127.0.0.1:9/--/api/v2/push/send"}
}

func envList(vars map[string]string) []string {
	out := baseEnv()
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// result is a finished command.
type result struct {
	Code   int
	Stdout string
	Stderr string
}

// runCmd runs `circly args...` with exactly the given settings and waits (at most timeout).
func runCmd(t *testing.T, vars map[string]string, timeout time.Duration, args ...string) result {
	t.Helper()
	res, err := execCmd(t.TempDir(), vars, timeout, args...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// execCmd is runCmd without the test: goroutines may call it. dir is the working directory
// (an empty one, so no stray .env is read).
func execCmd(dir string, vars map[string]string, timeout time.Duration, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = envList(vars)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return res, fmt.Errorf("circly %v did not finish within %s\nstdout:\n%s\nstderr:\n%s", args, timeout, res.Stdout, res.Stderr)
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
	default:
		return res, fmt.Errorf("circly %v: %w", args, err)
	}
	return res, nil
}

// proc is a running `circly serve`.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	URL    string
	Port   int
	stderr *testproc.Output
	stdout *testproc.Output
	done   chan struct{}
	err    error // Wait's answer, once done is closed
}

// startProc starts `circly serve` with the given settings (PORT is chosen here) and returns
// without waiting for it to be ready. It is killed when the test ends; its stderr is printed
// when the test failed.
func startProc(t *testing.T, name string, vars map[string]string) *proc {
	t.Helper()
	port := testproc.FreePort(t)
	env := map[string]string{"PORT": strconv.Itoa(port)}
	for k, v := range vars {
		env[k] = v
	}
	return startProcEnv(t, name, port, envList(env))
}

// startProcEnv starts `circly serve` with exactly env, which must set PORT=port.
func startProcEnv(t *testing.T, name string, port int, env []string) *proc {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = env
	cmd.Dir = t.TempDir()
	p := &proc{t: t, name: name, cmd: cmd, Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port),
		stderr: &testproc.Output{}, stdout: &testproc.Output{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("---- %s (%s) stderr ----\n%s", name, p.URL, p.stderr.String())
		}
	})
	return p
}

// startServer starts `circly serve` and waits until /health answers 200.
func startServer(t *testing.T, name string, vars map[string]string) *proc {
	t.Helper()
	if _, set := vars["SHUTDOWN_DRAIN"]; !set {
		vars["SHUTDOWN_DRAIN"] = "1s" // keep SIGTERM tests short; the drain itself is tested on its own
	}
	for attempt := 1; ; attempt++ {
		p := startProc(t, name, vars)
		err := p.healthy(60 * time.Second)
		if err == nil {
			return p
		}
		// freePort closes its probe before the server binds: someone may have taken the port.
		if attempt < 3 && strings.Contains(p.stderr.String(), "address already in use") {
			continue
		}
		t.Fatal(err)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) waitHealthy(timeout time.Duration) {
	p.t.Helper()
	if err := p.healthy(timeout); err != nil {
		p.t.Fatal(err)
	}
}

// healthy waits until /health answers 200, the process exits, or timeout passes.
func (p *proc) healthy(timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready: %v\nstderr:\n%s", p.name, p.err, p.stderr.String())
		}
		resp, err := client.Get(p.URL + "/health")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: /health not 200 within %s\nstderr:\n%s", p.name, timeout, p.stderr.String())
}

// wait waits for the process to exit and returns its exit code (-1 on timeout).
func (p *proc) wait(timeout time.Duration) (int, bool) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return -1, false
	}
	if p.err == nil {
		return 0, true
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode(), true
	}
	return -1, true
}

func (p *proc) signal(sig os.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil && !p.exited() {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

func (p *proc) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// ---- HTTP client ----

var httpClient = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns: 200, MaxIdleConnsPerHost: 100, IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	},
}

// reply is a decoded API answer.
type reply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// Data is the success envelope's data object.
func (r reply) Data() map[string]any {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

// Code is the error envelope's code.
func (r reply) Code() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// call sends one request; it never calls t.Fatal, so goroutines may use it.
func call(method, url, token string, body any) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			return r, fmt.Errorf("%s %s: answer is not a JSON object (%d): %q", method, url, resp.StatusCode, raw)
		}
	}
	return r, nil
}

// must sends a request and fails the test unless the status is want; it returns data.
func must(t *testing.T, want int, method, url, token string, body any) map[string]any {
	t.Helper()
	r, err := call(method, url, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.Status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, r.Status, want, r.Raw)
	}
	if r.Body["success"] != true {
		t.Fatalf("%s %s: no success envelope: %s", method, url, r.Raw)
	}
	return r.Data()
}

// user is a logged-in device.
type user struct {
	ID       string
	Token    string
	MemberID string // membership id in the circle under test
	Nickname string
}

func login(baseURL, deviceID string) (user, error) {
	r, err := call("POST", baseURL+"/v1/auth/device-login", "", map[string]any{"device_id": deviceID, "platform": "web"})
	if err != nil {
		return user{}, err
	}
	if r.Status != http.StatusOK {
		return user{}, fmt.Errorf("device-login %s: %d %s", deviceID, r.Status, r.Raw)
	}
	d := r.Data()
	tok, _ := d["access_token"].(string)
	id, _ := d["user_id"].(string)
	if tok == "" || id == "" {
		return user{}, fmt.Errorf("device-login %s: no token in %s", deviceID, r.Raw)
	}
	return user{ID: id, Token: tok}, nil
}

// loginMany logs in n new devices concurrently, spreading them over the given servers.
func loginMany(t *testing.T, prefix string, n int, servers ...string) []user {
	t.Helper()
	users := make([]user, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			users[i], errs[i] = login(servers[i%len(servers)], fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), i))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return users
}

// formCircle has users[0] create a circle named name (nickname m0) and the others join it
// (m1, m2, …), all through base; it returns the circle.
func formCircle(t *testing.T, base, name string, users []user) map[string]any {
	t.Helper()
	c := must(t, 201, "POST", base+"/v1/circles", users[0].Token, map[string]any{"name": name, "nickname": "m0"})
	for i := 1; i < len(users); i++ {
		d := must(t, 200, "POST", base+"/v1/circles/join", users[i].Token,
			map[string]any{"invite_code": c["invite_code"], "nickname": fmt.Sprintf("m%d", i)})
		users[i].MemberID = d["membership"].(map[string]any)["id"].(string)
	}
	return c
}

// firstTemplate returns the id of a seeded template.
func firstTemplate(t *testing.T, baseURL, token string) string {
	t.Helper()
	d := must(t, 200, "GET", baseURL+"/v1/templates?limit=5", token, nil)
	list, _ := d["templates"].([]any)
	if len(list) == 0 {
		t.Fatalf("no seeded templates: %v", d)
	}
	return list[0].(map[string]any)["id"].(string)
}

// optionsOf returns a poll's options as (option id, member id) pairs in display order.
func optionsOf(t *testing.T, poll map[string]any) (ids, memberIDs []string) {
	t.Helper()
	opts, _ := poll["options"].([]any)
	for _, o := range opts {
		m := o.(map[string]any)
		ids = append(ids, m["id"].(string))
		memberIDs = append(memberIDs, m["member_id"].(string))
	}
	return ids, memberIDs
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}
