package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// actionlint is the pinned linter of the GitHub workflows; `go run` builds it from the module
// proxy's copy of that version, so nothing but Go is installed for it (and go.mod is untouched).
const actionlint = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"

// TestWorkflowsPassActionlint: actionlint, with shellcheck on every run: script, has no finding
// in .github/workflows. shellcheck must be installed (Debian: apt-get install shellcheck; .ci/run
// does): actionlint alone would silently skip the scripts.
func TestWorkflowsPassActionlint(t *testing.T) {
	files, _ := filepath.Glob("../.github/workflows/*.y*ml")
	if len(files) < 2 {
		t.Fatalf("found workflows %v, want ci.yml and images.yml at least", files)
	}
	if out, err := runActionlint(t, "..", files...); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

// TestActionlintCatchesFindings: the same command fails on a workflow with a shell mistake and a
// wrong expression, so a passing TestWorkflowsPassActionlint means something.
func TestActionlintCatchesFindings(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	workflow := "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n" +
		"      - run: echo $HOME\n      - run: echo \"${{ github.no_such_property }}\"\n"
	if err := os.WriteFile(bad, []byte(workflow), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runActionlint(t, dir, bad)
	if err == nil {
		t.Fatalf("actionlint passed a bad workflow:\n%s", out)
	}
	for _, want := range []string{"SC2086", "no_such_property"} {
		if !strings.Contains(out, want) {
			t.Errorf("actionlint's findings lack %s:\n%s", want, out)
		}
	}
}

func runActionlint(t *testing.T, dir string, files ...string) (string, error) {
	t.Helper()
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed (Debian: apt-get install shellcheck): actionlint needs it to check run: scripts")
	}
	abs := make([]string, len(files))
	for i, f := range files {
		if abs[i], err = filepath.Abs(f); err != nil {
			t.Fatal(err)
		}
	}
	args := append([]string{"run", actionlint, "-no-color", "-shellcheck", shellcheck}, abs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
