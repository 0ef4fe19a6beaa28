package e2e_test

import (
	"database/sql"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testredis"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// createDatabase makes an empty database for this test (dropped at the end) and returns its URL.
func createDatabase(t *testing.T, base, name string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// runScript runs one of scripts/*.sh with the given extra environment.
func runScript(t *testing.T, env []string, script string, args ...string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", script)}, args...)...)
	cmd.Env = append(baseEnv(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// TestBackupAndRestore: a backup taken by scripts/backup.sh, restored by scripts/restore.sh
// into an empty database, serves the same circle, poll and results; old backups expire after
// seven days and newer ones stay.
func TestBackupAndRestore(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (Debian: postgresql-client): %v", tool, err)
		}
	}
	base := testdb.PostgresURL(t)
	redisURL := testredis.New(t).URL()
	suffix := strings.ToLower(strings.ReplaceAll(time.Now().UTC().Format("150405.000000"), ".", ""))
	src := createDatabase(t, base, "circly_backup_src_"+suffix)
	dst := createDatabase(t, base, "circly_backup_dst_"+suffix)
	secret := "e2e-backup-secret-0123456789abcdef0123"

	// Some data: a circle of four, a poll, three votes.
	a := startServer(t, "source", distributedEnv(t, src, redisURL, secret))
	users := loginMany(t, "backup", 4, a.URL)
	circle := must(t, 201, "POST", a.URL+"/v1/circles", users[0].Token, map[string]any{"name": "Backup class", "nickname": "u0"})
	for i := 1; i < 4; i++ {
		must(t, 200, "POST", a.URL+"/v1/circles/join", users[i].Token,
			map[string]any{"invite_code": circle["invite_code"], "nickname": "u" + string(rune('0'+i))})
	}
	poll := must(t, 201, "POST", a.URL+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": circle["id"], "template_id": firstTemplate(t, a.URL, users[0].Token), "duration_hours": 1})
	opts, _ := optionsOf(t, poll)
	pollURL := a.URL + "/v1/polls/" + poll["id"].(string)
	for i, voter := range users[:3] {
		must(t, 201, "POST", pollURL+"/vote", voter.Token, map[string]any{"option_id": opts[(i+1)%len(opts)]})
	}
	before := must(t, 200, "GET", pollURL+"/results", users[1].Token, nil)

	dir := t.TempDir()
	expired := filepath.Join(dir, "circly-20000101T000000Z.dump")
	recent := filepath.Join(dir, "circly-20000102T000000Z.dump")
	for f, age := range map[string]time.Duration{expired: 8 * 24 * time.Hour, recent: 3 * 24 * time.Hour} {
		if err := os.WriteFile(f, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	out := runScript(t, []string{"DATABASE_URL=" + src}, "backup.sh", dir)
	if !strings.Contains(out, "expired backup deleted: "+expired) {
		t.Errorf("the 8-day-old backup was not reported deleted:\n%s", out)
	}
	if _, err := os.Stat(expired); !os.IsNotExist(err) {
		t.Errorf("8-day-old backup still there (err %v)", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("3-day-old backup was deleted: %v", err)
	}
	dumps, _ := filepath.Glob(filepath.Join(dir, "circly-2*.dump"))
	var fresh string
	for _, d := range dumps {
		if d != recent {
			fresh = d
		}
	}
	if fresh == "" {
		t.Fatalf("no new backup in %s:\n%s", dir, out)
	}
	if partials, _ := filepath.Glob(filepath.Join(dir, "*.partial")); len(partials) > 0 {
		t.Errorf("partial files left behind: %v", partials)
	}

	runScript(t, []string{"TARGET_DATABASE_URL=" + dst}, "restore.sh", fresh)
	a.kill()

	// The restored database passes the schema check with migrations off, and answers the same.
	vars := distributedEnv(t, dst, redisURL, secret)
	vars["AUTO_MIGRATE"] = "false"
	b := startServer(t, "restored", vars)
	after := must(t, 200, "GET", b.URL+"/v1/polls/"+poll["id"].(string)+"/results", users[1].Token, nil)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("results differ after restore:\nbefore %v\nafter  %v", before, after)
	}
	// Ballots are still one per member: a restored voter cannot vote again.
	r, err := call("POST", b.URL+"/v1/polls/"+poll["id"].(string)+"/vote", users[0].Token, map[string]any{"option_id": opts[1]})
	if err != nil || r.Code() != "ALREADY_VOTED" {
		t.Errorf("vote after restore: %v %s", err, r.Raw)
	}
}
