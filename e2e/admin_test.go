package e2e_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testredis"
)

var tokenIDLine = regexp.MustCompile(`# id ([0-9a-f-]{36}),`)

// adminToken runs `circly admin token` with the replicas' settings and returns the token and
// its id.
func adminToken(t *testing.T, env map[string]string, operator string) (token, id string) {
	t.Helper()
	res := runCmd(t, env, 60*time.Second, "admin", "token", "--operator", operator, "--ttl", "1h")
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	m := tokenIDLine.FindStringSubmatch(res.Stdout)
	if res.Code != 0 || len(lines) != 2 || m == nil {
		t.Fatalf("circly admin token: code %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
	}
	return lines[0], m[1]
}

// TestAdminAcrossReplicas: an operator token from `circly admin token` opens the admin API on
// both replicas (and a user token does not); an uphold taken on A unsubscribes the poll's
// watcher on B; `circly admin revoke` stops the token on both at once, and needs a reason.
func TestAdminAcrossReplicas(t *testing.T) {
	pg := testdb.PostgresSchemaURL(t)
	rd := testredis.New(t)
	secret := "e2e-admin-secret-0123456789abcdef-" + t.Name()
	A := startProc(t, "replica-A", distributedEnv(t, pg, rd.URL(), secret))
	B := startProc(t, "replica-B", distributedEnv(t, pg, rd.URL(), secret))
	A.waitHealthy(90 * time.Second)
	B.waitHealthy(90 * time.Second)
	cli := distributedEnv(t, pg, rd.URL(), secret)

	token, id := adminToken(t, cli, "alice")
	for _, base := range []string{A.URL, B.URL} {
		must(t, 200, "GET", base+"/v1/admin/reports", token, nil)
	}

	users := loginMany(t, "admin", 4, A.URL, B.URL)
	circle := formCircle(t, A.URL, "Admin", users)
	poll := must(t, 201, "POST", A.URL+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": circle["id"], "template_id": firstTemplate(t, A.URL, users[0].Token), "duration_hours": 1})
	pollID := poll["id"].(string)
	if r, err := call("GET", A.URL+"/v1/admin/reports", users[0].Token, nil); err != nil || r.Status != 401 || r.Code() != "INVALID_TOKEN" {
		t.Fatalf("user token on the admin API: %d %s %v", r.Status, r.Raw, err)
	}
	if r, err := call("GET", B.URL+"/v1/users/me", token, nil); err != nil || r.Status != 401 || r.Code() != "INVALID_TOKEN" {
		t.Fatalf("operator token on a user route: %d %s %v", r.Status, r.Raw, err)
	}

	watcher := dialLive(t, B.URL, users[1].Token)
	watcher.subscribe(1, "poll:"+pollID)
	for _, u := range users[1:3] {
		must(t, 201, "POST", A.URL+"/v1/reports", u.Token, map[string]any{"type": "poll", "target_id": pollID, "reason": "bullying"})
	}
	d := must(t, 200, "POST", A.URL+"/v1/admin/targets/poll/"+pollID+"/decision", token, map[string]any{"decision": "uphold", "reason": "names a classmate"})
	if d["poll_hidden"] != true {
		t.Fatalf("uphold = %v", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, err := watcher.next(time.Until(deadline))
		if err != nil {
			t.Fatalf("the watcher on B was not unsubscribed from the hidden poll: %v", err)
		}
		if f["type"] == "unsubscribed" && f["channel"] == "poll:"+pollID {
			break
		}
	}

	if res := runCmd(t, cli, 60*time.Second, "admin", "revoke", id); res.Code == 0 || !strings.Contains(res.Stderr, "reason") {
		t.Fatalf("revoke without a reason: code %d stderr %q", res.Code, res.Stderr)
	}
	if res := runCmd(t, cli, 60*time.Second, "admin", "revoke", id, "--reason", "shift over", "--operator", "bob"); res.Code != 0 {
		t.Fatalf("revoke: code %d stderr %q", res.Code, res.Stderr)
	}
	for _, base := range []string{A.URL, B.URL} {
		if r, err := call("GET", base+"/v1/admin/reports", token, nil); err != nil || r.Status != 401 || r.Code() != "INVALID_TOKEN" {
			t.Fatalf("revoked token on %s: %d %s %v", base, r.Status, r.Raw, err)
		}
	}
	second, _ := adminToken(t, cli, "carol")
	audit := must(t, 200, "GET", B.URL+"/v1/admin/audit", second, nil)
	actions := map[string]int{}
	for _, e := range audit["entries"].([]any) {
		actions[e.(map[string]any)["action"].(string)]++
	}
	if actions["token_issued"] != 2 || actions["uphold"] != 1 || actions["token_revoked"] != 1 {
		t.Fatalf("audit actions = %v", actions)
	}
}

// TestAdminCommandsRefuse: a bad SANCTION_LADDER stops start-up in one line naming it, and the
// admin commands refuse to sign without SECRET_KEY or with a bad operator name.
func TestAdminCommandsRefuse(t *testing.T) {
	dir := t.TempDir()
	oneLine(t, runCmd(t, map[string]string{"DATA_DIR": dir, "SANCTION_LADDER": "remove,24h"}, 30*time.Second, "serve"), "SANCTION_LADDER")
	if res := runCmd(t, map[string]string{"DATA_DIR": dir}, 30*time.Second, "admin", "token", "--operator", "alice"); res.Code == 0 ||
		!strings.Contains(res.Stderr, "SECRET_KEY") {
		t.Errorf("admin token without SECRET_KEY: code %d stderr %q", res.Code, res.Stderr)
	}
	env := map[string]string{"DATA_DIR": dir, "SECRET_KEY": "e2e-admin-refuse-0123456789abcdef"}
	if res := runCmd(t, env, 30*time.Second, "admin", "token", "--operator", "not a name"); res.Code == 0 {
		t.Errorf("admin token with a bad name: code %d stdout %q", res.Code, res.Stdout)
	}
}
