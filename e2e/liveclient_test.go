package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testredis"
)

// TestLiveClient runs the TypeScript live client's checks (clients/live): its committed build
// matches its sources, its unit tests pass, and against real replicas on one PostgreSQL and
// Redis it survives the one it is connected to being killed (SIGKILL) and the next one shutting
// down (SIGTERM: a reconnect frame). Node and npm are required: CI installs them.
func TestLiveClient(t *testing.T) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (Debian: apt-get install nodejs npm): the live client's tests need it", tool)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "clients", "live")

	runNode(t, dir, nil, 5*time.Minute, "npm", "ci", "--no-audit", "--no-fund")
	runNode(t, dir, nil, 2*time.Minute, "npm", "run", "check-build")
	runNode(t, dir, nil, 2*time.Minute, "npm", "test")

	// Three replicas: A is killed, B drains (a short drain keeps the test quick), C stays.
	pg := testdb.PostgresSchemaURL(t)
	rd := testredis.New(t).URL()
	secret := "e2e-shared-secret-0123456789abcdef-" + t.Name()
	var replicas []*proc
	for _, name := range []string{"replica-A", "replica-B", "replica-C"} {
		env := distributedEnv(t, pg, rd, secret)
		env["SHUTDOWN_DRAIN"] = "2s"
		replicas = append(replicas, startProc(t, name, env))
	}
	var urls []string
	for _, p := range replicas {
		p.waitHealthy(90 * time.Second)
		urls = append(urls, p.URL)
	}
	A, B := replicas[0], replicas[1]
	env := []string{"CIRCLY_URLS=" + strings.Join(urls, ","),
		"CIRCLY_KILL_PID=" + strconv.Itoa(A.cmd.Process.Pid), "CIRCLY_TERM_PID=" + strconv.Itoa(B.cmd.Process.Pid)}
	runNode(t, dir, env, 3*time.Minute, "npm", "run", "test:integration")

	if !A.exited() {
		t.Error("replica A is still running: the integration test did not kill it")
	}
	if code, ok := B.wait(30 * time.Second); !ok || code != 0 {
		t.Errorf("replica B after SIGTERM: exit code %d (exited: %v), want a clean exit", code, ok)
	}
}

// runNode runs a node/npm command in dir and fails the test with its output when it fails.
func runNode(t *testing.T, dir string, env []string, timeout time.Duration, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	t.Logf("%s %v:\n%s", name, args, out)
}
