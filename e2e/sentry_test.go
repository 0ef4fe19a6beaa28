package e2e_test

import (
	"database/sql"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"circly/internal/testpg"
	"circly/internal/testsentry"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// TestSentryFromTheBinary: `circly serve` with SENTRY_DSN on a fake Sentry endpoint and every
// trace sampled sends a request's transaction named by its route pattern and a job run's named
// after the job; a PostgreSQL outage, which fails every job for a while, sends no event; a real
// defect in a job (its table gone) sends an error event tagged with the job's name; and nothing
// that reaches Sentry names a user, a token, an id or an address.
func TestSentryFromTheBinary(t *testing.T) {
	sink := testsentry.New(t)
	pg := testpg.New(t)
	srv := startServer(t, "sentry", map[string]string{
		"DATABASE_URL": pg.URL(), "SECRET_KEY": "e2e-sentry-secret-0123456789abcdef", "DATA_DIR": t.TempDir(),
		"ENV": "staging", "AUTO_MIGRATE": "true", "LOG_FORMAT": "json", "POLL_MIN_DURATION": "2s",
		"RATE_LIMIT_REQUESTS": "0", "AUTH_RATE_LIMIT": "0",
		"SENTRY_DSN": sink.DSN(), "SENTRY_TRACES_SAMPLE_RATE": "1",
	})
	users := loginMany(t, "sentry", 3, srv.URL)
	circle := formCircle(t, srv.URL, "Sentry", users)
	poll := must(t, 201, "POST", srv.URL+"/v1/polls", users[0].Token, map[string]any{"circle_id": circle["id"],
		"template_id": firstTemplate(t, srv.URL, users[0].Token), "deadline": time.Now().Add(2500 * time.Millisecond).UTC().Format(time.RFC3339Nano)})
	pollID := poll["id"].(string)
	must(t, 200, "GET", srv.URL+"/v1/polls/"+pollID, users[1].Token, nil)

	get := sink.WaitFor("transaction", 15*time.Second, "GET /v1/polls/:id", func(it testsentry.Item) bool {
		return it.Name() == "GET /v1/polls/:id"
	})
	if get.Tag("http.status_code") != "200" || get.Tag("request_id") == "" {
		t.Errorf("request transaction without its status or request id: %s", get.Raw)
	}
	sink.WaitFor("transaction", 15*time.Second, "POST /v1/circles/join", func(it testsentry.Item) bool {
		return it.Name() == "POST /v1/circles/join"
	})
	closeRun := sink.WaitFor("transaction", 15*time.Second, "the close job's run", func(it testsentry.Item) bool {
		return it.Name() == "close_polls"
	})
	if closeRun.Tag("job") != "close_polls" {
		t.Errorf("job transaction without its job tag: %s", closeRun.Raw)
	}

	// The outage: every job fails (logged at warn) until PostgreSQL is back.
	pg.Stop()
	for deadline := time.Now().Add(15 * time.Second); strings.Count(srv.stderr.String(), "job run failed: database unavailable") < 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the jobs logged no outage within 15 s:\n%s", srv.stderr.String())
		}
	}
	pg.Start()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if r, err := call("GET", srv.URL+"/v1/users/me", users[0].Token, nil); err == nil && r.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica did not recover within 30 s of PostgreSQL's restart")
		}
	}
	if events := sink.Of("event"); len(events) > 0 {
		t.Fatalf("the outage sent %d events to Sentry:\n%s", len(events), sink.Dump())
	}

	// A defect: the push outbox is gone, so every push dispatch fails with an SQL error.
	db, err := sql.Open("pgx", pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`ALTER TABLE push_outbox RENAME TO push_outbox_gone`); err != nil {
		t.Fatal(err)
	}
	failed := sink.WaitFor("event", 15*time.Second, "the push job's failure", func(it testsentry.Item) bool {
		return it.Tag("job") == "push_dispatch"
	})
	if failed.Payload["level"] != "error" || !strings.Contains(failed.Raw, "push_outbox") {
		t.Errorf("push job's event: %s", failed.Raw)
	}

	// Nothing personal in anything sent, events and transactions alike.
	secrets := []string{pollID, circle["id"].(string), circle["invite_code"].(string), "127.0.0.1", "Bearer"}
	for _, u := range users {
		secrets = append(secrets, u.ID, u.Token, u.MemberID)
	}
	noPersonalData(t, sink, secrets)
}

// noPersonalData fails the test if any item the fake Sentry received holds one of secrets, a
// request, a user, breadcrumbs or an Authorization header. Stack frames' source lines (the SDK
// reads them when the source is on disk, as here) are code, not data, and are left out.
func noPersonalData(t *testing.T, sink *testsentry.Sink, secrets []string) {
	t.Helper()
	for _, it := range sink.Items() {
		data, _ := json.Marshal(withoutSource(it.Payload))
		text := string(data)
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("a %s sent to Sentry holds %q: %s", it.Type, s, it.Raw)
			}
		}
		for _, key := range []string{"request", "user", "breadcrumbs"} {
			if _, ok := it.Payload[key]; ok {
				t.Errorf("a %s sent to Sentry has %q: %s", it.Type, key, it.Raw)
			}
		}
		if strings.Contains(strings.ToLower(text), "authorization") {
			t.Errorf("a %s sent to Sentry mentions an Authorization header: %s", it.Type, it.Raw)
		}
	}
}

// withoutSource is v without the source lines of stack frames.
func withoutSource(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if k != "pre_context" && k != "context_line" && k != "post_context" {
				out[k] = withoutSource(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = withoutSource(x)
		}
		return out
	}
	return v
}

// TestSentryTracesOff: with SENTRY_TRACES_SAMPLE_RATE=0 no transaction reaches Sentry, while
// errors still do (a request failing on a table gone from its database).
func TestSentryTracesOff(t *testing.T) {
	sink := testsentry.New(t)
	pg := testpg.New(t)
	srv := startServer(t, "sentry-off", map[string]string{"DATABASE_URL": pg.URL(), "DATA_DIR": t.TempDir(),
		"LOG_FORMAT": "json", "SENTRY_DSN": sink.DSN(), "SENTRY_TRACES_SAMPLE_RATE": "0"})
	users := loginMany(t, "sentry-off", 2, srv.URL)
	circle := formCircle(t, srv.URL, "Untraced", users)
	must(t, 200, "GET", srv.URL+"/v1/circles/"+circle["id"].(string), users[1].Token, nil)
	must(t, 200, "GET", srv.URL+"/v1/users/me", users[0].Token, nil)

	db, err := sql.Open("pgx", pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`ALTER TABLE reports RENAME TO reports_gone`); err != nil {
		t.Fatal(err)
	}
	if r, err := call("GET", srv.URL+"/v1/reports/my", users[0].Token, nil); err != nil || r.Status != 500 {
		t.Fatalf("GET /v1/reports/my without its table: %d %v, want 500", r.Status, err)
	}
	srv.signal(syscall.SIGTERM) // serve flushes Sentry on the way out
	if code, ok := srv.wait(30 * time.Second); !ok || code != 0 {
		t.Fatalf("serve exited %d (in time: %v)", code, ok)
	}
	sink.WaitFor("event", 0, "the failed request's error", func(it testsentry.Item) bool {
		return it.Tag("route") == "/v1/reports/my"
	})
	if txs := sink.Of("transaction"); len(txs) > 0 {
		t.Fatalf("%d transactions at rate 0:\n%s", len(txs), sink.Dump())
	}
	noPersonalData(t, sink, []string{users[0].ID, users[0].Token, users[1].ID, users[1].Token, "127.0.0.1", "Bearer"})
}
