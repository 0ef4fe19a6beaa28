package server_test

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"circly/config"
	"circly/server"
	"circly/sqlstore"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var uuidRe = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// contractMetrics are the names API.md promises in /metrics.
var contractMetrics = []string{
	"http_requests_total", "http_request_duration_seconds", "active_polls_total", "active_users_24h",
	"ws_connections", "ws_messages_sent_total", "ws_dropped_total", "realtime_publish_total",
	"jobs_runs_total", "push_sent_total",
}

// TestMetricsEndpoint: after some traffic /metrics shows every contract metric, HTTP series are
// labeled by route pattern ("unmatched" for no route), and no label value holds an id.
func TestMetricsEndpoint(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	c := e.newCircle(3)
	poll := e.newPoll(c)
	e.must(200, e.request("GET", "/v1/polls/"+poll["id"].(string), c.Members[1].Token, nil))
	e.fail(404, "POLL_NOT_FOUND", e.request("GET", "/v1/polls/"+unknownID, c.Members[1].Token, nil))
	e.fail(404, "NOT_FOUND", e.request("GET", "/v1/no/such/"+unknownID, "", nil))
	e.request("BREW", "/v1/polls/"+unknownID, "", nil)

	r := e.request("GET", "/metrics", "", nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	text := string(r.Raw)
	for _, name := range contractMetrics {
		if !regexp.MustCompile(`(?m)^` + name + `(_bucket|_sum|_count)?(\{| )`).MatchString(text) {
			t.Errorf("/metrics has no series of %s", name)
		}
	}
	for _, want := range []string{
		`http_requests_total{method="GET",route="/v1/polls/:id",status="200"}`,
		`http_requests_total{method="GET",route="/v1/polls/:id",status="404"}`,
		`http_requests_total{method="GET",route="unmatched",status="404"}`,
		`http_requests_total{method="other",route="unmatched",status="405"}`,
		`http_requests_total{method="POST",route="/v1/polls",status="201"}`,
		`http_request_duration_seconds_count{method="GET",route="/v1/polls/:id/results"}`, // created at start
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if uuidRe.MatchString(line) || strings.Contains(line, "/v1/no/such") {
			t.Errorf("a label holds an id or a raw path: %s", line)
		}
	}
}

// TestMetricsAddrMovesMetrics: with METRICS_ADDR set the main port has no /metrics (cmd/circly
// serves it on its own listener; the e2e tests check that one).
func TestMetricsAddrMovesMetrics(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite, withConfig(func(c *config.Config) { c.MetricsAddr = "127.0.0.1:0" }))
	e.fail(404, "NOT_FOUND", e.request("GET", "/metrics", "", nil))
}

// TestRequestIDOnEveryLogLine: each line a request logs carries its request id; X-Request-ID is
// echoed when sane and made up otherwise.
func TestRequestIDOnEveryLogLine(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	e := newEnv(t, sqlstore.SQLite, withLog(zap.New(core)), beforeServe(func(s *server.Server) {
		s.AddPanicRoute("/v1/test/panic", "boom")
		s.AddErrorRoute("/v1/test/error", errors.New("disk on fire"))
	}))
	for _, path := range []string{"/v1/test/panic", "/v1/test/error"} {
		logs.TakeAll()
		r := e.request("GET", path, "", nil, "X-Request-ID", "trace-"+path[9:])
		if r.Status != 500 || r.Header.Get("X-Request-ID") != "trace-"+path[9:] {
			t.Fatalf("%s: %d, X-Request-ID %q", path, r.Status, r.Header.Get("X-Request-ID"))
		}
		entries := logs.AllUntimed()
		if len(entries) < 2 {
			t.Fatalf("%s: %d log lines, want the failure and the access line", path, len(entries))
		}
		for _, en := range entries {
			if en.ContextMap()["request_id"] != "trace-"+path[9:] {
				t.Errorf("%s: line %q has request_id %v", path, en.Message, en.ContextMap()["request_id"])
			}
		}
	}
	r := e.request("GET", "/health", "", nil, "X-Request-ID", "bad id with spaces")
	if id := r.Header.Get("X-Request-ID"); id == "" || strings.Contains(id, " ") {
		t.Fatalf("insane X-Request-ID kept or none made: %q", id)
	}
}

// TestAccessLogHoldsNoSecrets: the access line of a vote has no token, body, option or raw path.
func TestAccessLogHoldsNoSecrets(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	e := newEnv(t, sqlstore.SQLite, withLog(zap.New(core)))
	c := e.newCircle(3)
	poll := e.newPoll(c)
	ids, _ := options(poll)
	logs.TakeAll()
	e.vote(c.Members[1], poll["id"].(string), ids[1])
	var all bytes.Buffer
	for _, en := range logs.AllUntimed() {
		all.WriteString(en.Message)
		for k, v := range en.ContextMap() {
			all.WriteString(" " + k + "=")
			fmt.Fprint(&all, v)
		}
		all.WriteString("\n")
	}
	for _, secret := range []string{c.Members[1].Token, ids[1], poll["id"].(string)} {
		if strings.Contains(all.String(), secret) {
			t.Fatalf("the vote's log lines hold %q:\n%s", secret, all.String())
		}
	}
	if !strings.Contains(all.String(), "/v1/polls/:id/vote") {
		t.Fatalf("no access line with the route pattern:\n%s", all.String())
	}
}
