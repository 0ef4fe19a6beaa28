package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"circly/internal/testproc"
)

// readmeWalkthrough is the shell block under the README's "Walk-through with curl" heading.
func readmeWalkthrough(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "## Walk-through with curl")
	if i < 0 {
		t.Fatal("README has no walk-through")
	}
	start := strings.Index(s[i:], "```sh\n")
	end := strings.Index(s[i+start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatal("README's walk-through has no sh block")
	}
	return s[i+start+6 : i+start+6+end]
}

func moduleDir(t *testing.T) string {
	t.Helper()
	dir, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// runShell runs a bash script (the README block, or scripts/walkthrough.sh with args) with API set.
func runShell(t *testing.T, api string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command("bash", args...)
	cmd.Dir = moduleDir(t)
	cmd.Env = append(os.Environ(), "API="+api)
	var out, errOut testproc.Output
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		err = <-done
	}
	return out.String(), errOut.String(), err
}

// TestReadmeWalkthrough: the README's walk-through and scripts/walkthrough.sh both succeed, each
// twice in a row, against a service started with nothing but its defaults (as `go run
// ./cmd/circly` starts it), and the script stops loudly on an answer that is not a 2xx.
func TestReadmeWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walk-through needs %s: %v", tool, err)
		}
	}
	srv := startServer(t, "defaults", map[string]string{"DATA_DIR": t.TempDir()})
	block := readmeWalkthrough(t)
	for run := 1; run <= 2; run++ {
		out, errOut, err := runShell(t, srv.URL, "-c", block)
		if err != nil || !strings.Contains(out, "ALREADY_VOTED") || !strings.Contains(out, `"winner"`) {
			t.Fatalf("README walk-through, run %d: %v\nstdout:\n%s\nstderr:\n%s", run, err, out, errOut)
		}
		out, errOut, err = runShell(t, srv.URL, "scripts/walkthrough.sh", srv.URL)
		if err != nil || !strings.Contains(out, `"winner"`) {
			t.Fatalf("scripts/walkthrough.sh, run %d: %v\nstdout:\n%s\nstderr:\n%s", run, err, out, errOut)
		}
	}

	// A server that refuses: the script exits non-zero at once and shows the envelope.
	strict := startServer(t, "strict", map[string]string{"DATA_DIR": t.TempDir(), "AUTH_RATE_LIMIT": "2"})
	out, errOut, err := runShell(t, strict.URL, "scripts/walkthrough.sh", strict.URL)
	if err == nil || !strings.Contains(errOut, "RATE_LIMIT_EXCEEDED") || strings.Contains(out, "circle ") {
		t.Fatalf("walk-through against a refusing server: err=%v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	out, errOut, err = runShell(t, strict.URL, "-c", block)
	if err == nil || !strings.Contains(errOut, "RATE_LIMIT_EXCEEDED") || strings.Contains(out, "ALREADY_VOTED") {
		t.Fatalf("README block against a refusing server: err=%v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
}
