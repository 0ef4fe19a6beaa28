// Package archtest holds the import rules of the code base: which package may depend on what.
// A rule broken by a new import fails here, with the chain of imports that brought it in.
package archtest

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// rule: a package (and everything it imports, transitively) stays clear of the forbidden ones.
type rule struct {
	pkg       string
	forbidden []string // import path prefixes
	why       string
}

var (
	web      = []string{"github.com/gin-gonic/gin", "net/http/httptest"}
	sqlStack = []string{"gorm.io/", "database/sql", "github.com/jackc/pgx", "github.com/glebarez/", "modernc.org/sqlite"}
	redisLib = []string{"github.com/redis/go-redis"}
)

var rules = []rule{
	{"circly", concat(web, sqlStack, redisLib, []string{"circly/", "go.uber.org/zap", "github.com/prometheus/"}),
		"the domain (package circly, the module's root) imports no infrastructure"},
	{"circly/hub", concat(web, sqlStack, redisLib, []string{"circly/sqlstore", "circly/app", "circly/server", "github.com/prometheus/"}),
		"the hub serves connections: it knows channels and frames, not HTTP routing, SQL, Redis or a metrics library"},
	{"circly/realtime", concat(web, sqlStack, redisLib, []string{"circly/", "go.uber.org/zap", "github.com/prometheus/"}),
		"the broker contract and the memory broker need nothing beyond the standard library"},
	{"circly/redisbroker", concat(web, sqlStack, []string{"circly/hub", "circly/sqlstore", "circly/app", "circly/metrics"}),
		"the Redis broker moves messages; who counts them is its caller's business"},
	{"circly/sqlstore", concat(web, redisLib, []string{"circly/app", "circly/hub", "circly/server", "circly/jobs", "circly/realtime", "circly/redisbroker"}),
		"the store is a callee: it never reaches up to the layers that use it"},
	{"circly/app", concat(web, []string{"circly/server", "circly/jobs", "circly/hub"}),
		"use cases are the same for a handler and a job, and speak the live protocol (frames), not the hub"},
	{"circly/frames", concat(web, sqlStack, redisLib, []string{"circly/"}),
		"the live protocol is data: frames, codes, snapshots"},
	{"circly/jobs", concat(web, []string{"circly/server"}),
		"jobs run the use cases, not the HTTP layer"},
	{"circly/revoked", concat(web, sqlStack, redisLib, []string{"circly/"}),
		"the list of deleted accounts is shared by REST authentication and the hub, and depends on neither"},
	{"circly/ballot", concat(web, redisLib, []string{"gorm.io/", "circly/"}),
		"sealing a ballot is pure cryptography"},
	{"circly/web", concat(web, sqlStack, redisLib, []string{"circly/app", "circly/sqlstore", "circly/server", "circly/hub", "circly/jobs"}),
		"the pages render what the app answers; the server routes to them"},
	{"circly/monitor", concat(web, sqlStack, redisLib, []string{"circly/"}),
		"the monitor knows a replica only by what it answers over HTTP"},
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// pkgInfo is what `go list -deps -json` says of one package.
type pkgInfo struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

func list(t *testing.T, args ...string) map[string]pkgInfo {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-json"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	pkgs := map[string]pkgInfo{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// chain is a path of imports from `from` to `to` (breadth first, so the shortest).
func chain(pkgs map[string]pkgInfo, from, to string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			path := []string{cur}
			for p := prev[cur]; p != ""; p = prev[p] {
				path = append([]string{p}, path...)
			}
			return strings.Join(path, " → ")
		}
		for _, next := range pkgs[cur].Imports {
			if _, seen := prev[next]; !seen {
				prev[next] = cur
				queue = append(queue, next)
			}
		}
	}
	return from + " → … → " + to
}

// TestImportRules: every rule holds for the package and everything it imports.
func TestImportRules(t *testing.T) {
	for _, r := range rules {
		pkgs := list(t, "./"+strings.TrimPrefix(strings.TrimPrefix(r.pkg, "circly"), "/"))
		for dep := range pkgs {
			for _, f := range r.forbidden {
				if dep != r.pkg && (dep == strings.TrimSuffix(f, "/") || strings.HasPrefix(dep, f)) {
					t.Errorf("%s must not depend on %s (%s): %s", r.pkg, dep, r.why, chain(pkgs, r.pkg, dep))
				}
			}
		}
	}
}

// TestNothingImportsServer: the HTTP layer is the top of the library; only a command wires it.
func TestNothingImportsServer(t *testing.T) {
	pkgs := list(t, "./...")
	for _, p := range pkgs {
		if !strings.HasPrefix(p.ImportPath, "circly/") || strings.HasPrefix(p.ImportPath, "circly/cmd/") {
			continue
		}
		for _, imp := range p.Imports {
			if imp == "circly/server" || strings.HasPrefix(imp, "circly/cmd/") {
				t.Errorf("%s imports %s: only commands may", p.ImportPath, imp)
			}
		}
	}
}

// TestArchitectureTable: the package table of docs/architecture.md names, for each folder, the
// project packages it imports; the code and the table agree exactly.
func TestArchitectureTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := tableRows(t, string(doc))
	pkgs := list(t, "./...")
	for folder, want := range rows {
		pkg := "circly/" + strings.TrimSuffix(folder, "/")
		if folder == "circly" {
			pkg = "circly" // the root: the domain
		}
		p, ok := pkgs[pkg]
		if !ok {
			t.Errorf("the table names %s, which is no package", folder)
			continue
		}
		got := map[string]bool{}
		for _, imp := range p.Imports {
			if rest, ok := strings.CutPrefix(imp, "circly/"); ok {
				got[rest] = true
			} else if imp == "circly" {
				got["circly"] = true
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s imports %v; docs/architecture.md says %v", folder, sortedKeys(got), sortedKeys(want))
		}
	}
}

var tick = regexp.MustCompile("`([a-z/]+)`")

// tableRows reads the "Packages" table: first column the folders (`a/`, `b/`), last column the
// imports (backquoted names, or "nothing").
func tableRows(t *testing.T, doc string) map[string]map[string]bool {
	t.Helper()
	rows := map[string]map[string]bool{}
	i := strings.Index(doc, "| folder | owns | imports")
	if i < 0 {
		t.Fatal("docs/architecture.md has no package table")
	}
	for _, line := range strings.Split(doc[i:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		imports := map[string]bool{}
		for _, m := range tick.FindAllStringSubmatch(cells[len(cells)-1], -1) {
			imports[m[1]] = true
		}
		for _, m := range tick.FindAllStringSubmatch(cells[0], -1) {
			rows[m[1]] = imports
		}
	}
	return rows
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOneDoorToTheData: the handlers and the jobs reach the data only through the app (the
// interfaces they declare, app.Service implementing them): no file of theirs names the store.
func TestOneDoorToTheData(t *testing.T) {
	for _, dir := range []string{"server", "jobs"} {
		files, err := filepath.Glob(filepath.Join("../..", dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "sqlstore.Store") || strings.Contains(line, ".Store.") {
					t.Errorf("%s:%d names the store; go through the app: %s", f, i+1, strings.TrimSpace(line))
				}
			}
		}
	}
}
