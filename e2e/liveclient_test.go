package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestLiveClient runs the TypeScript live client's checks (clients/live): its committed build
// matches its sources, its unit tests pass, and against two real replicas it survives the
// one it is connected to being killed. Node and npm are required: CI installs them.
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

	A, B := startReplicas(t)
	env := []string{"CIRCLY_A_URL=" + A.URL, "CIRCLY_B_URL=" + B.URL, "CIRCLY_A_PID=" + strconv.Itoa(A.cmd.Process.Pid)}
	runNode(t, dir, env, 3*time.Minute, "npm", "run", "test:integration")
	if !A.exited() {
		t.Error("replica A is still running: the integration test did not kill it")
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
