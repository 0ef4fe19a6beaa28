package server_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"circly/internal/testsentry"
	"circly/server"
	"circly/sqlstore"

	"github.com/getsentry/sentry-go"
)

// TestTracingByRoutePattern: with every request sampled, a transaction is named by method and
// route pattern (never the raw path with its id), a 404 is not sent (the SDK's default), an
// internal error's event carries the trace
// of its request's transaction, and health checks and unmatched paths are not traced.
func TestTracingByRoutePattern(t *testing.T) {
	sink := testsentry.New(t)
	if err := sentry.Init(sentry.ClientOptions{Dsn: sink.DSN(), EnableTracing: true, TracesSampleRate: 1,
		BeforeSend: server.ScrubSentryEvent, BeforeSendTransaction: server.ScrubSentryEvent}); err != nil {
		t.Fatal(err)
	}
	defer sentry.CurrentHub().BindClient(nil)
	e := newEnv(t, sqlstore.SQLite, beforeServe(func(s *server.Server) {
		s.AddErrorRoute("/v1/test/fail/:id", errors.New("disk on fire under "+unknownID))
	}))
	u := e.login()
	circleID := e.must(201, e.request("POST", "/v1/circles", u.Token, map[string]any{"name": "Traced", "nickname": "t"}))["id"].(string)
	e.must(200, e.request("GET", "/v1/circles/"+circleID, u.Token, nil))
	e.fail(404, "POLL_NOT_FOUND", e.request("GET", "/v1/polls/"+unknownID, u.Token, nil)) // the SDK skips 404s
	e.fail(500, "INTERNAL_ERROR", e.request("GET", "/v1/test/fail/"+unknownID, u.Token, nil))
	e.request("GET", "/health", "", nil)
	e.request("GET", "/nowhere/"+unknownID, "", nil)
	if !sentry.Flush(10 * time.Second) {
		t.Fatal("not delivered within 10s")
	}

	names := map[string]testsentry.Item{}
	for _, tx := range sink.Of("transaction") {
		names[tx.Name()] = tx
	}
	for _, want := range []string{"POST /v1/auth/device-login", "POST /v1/circles", "GET /v1/circles/:id", "GET /v1/test/fail/:id"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no transaction %q; got %v", want, keys(names))
		}
	}
	if len(names) != 4 {
		t.Errorf("transactions %v, want only the four routed API requests that did not answer 404", keys(names))
	}
	if got := names["GET /v1/circles/:id"].Tag("http.status_code"); got != "200" {
		t.Errorf("GET /v1/circles/:id status tag %q, want 200", got)
	}
	fail := sink.WaitFor("event", 0, "the internal error", func(it testsentry.Item) bool { return it.Tag("route") == "/v1/test/fail/:id" })
	if tr, want := traceID(fail), traceID(names["GET /v1/test/fail/:id"]); tr == "" || tr != want {
		t.Errorf("the error's trace %q is not its request's %q", tr, want)
	}
	for _, it := range sink.Items() {
		for _, secret := range []string{unknownID, circleID, u.Token, u.ID} {
			if strings.Contains(it.Raw, secret) {
				t.Errorf("a %s holds %q: %s", it.Type, secret, it.Raw)
			}
		}
	}
}

func traceID(it testsentry.Item) string {
	ctxs, _ := it.Payload["contexts"].(map[string]any)
	tr, _ := ctxs["trace"].(map[string]any)
	id, _ := tr["trace_id"].(string)
	return id
}

func keys(m map[string]testsentry.Item) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
