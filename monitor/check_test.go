package monitor

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// replica answers /health/detailed with a fixed status and body.
func replica(t *testing.T, code int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/detailed" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// closedPort is a local address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestCheck(t *testing.T) {
	// The bodies are what server/handlers_health.go answers.
	healthy := `{"status":"ok","services":{"database":{"status":"ok"},"storage":{"status":"ok"},"redis":{"status":"disabled"}}}`
	degraded := `{"status":"error","services":{"database":{"status":"ok"},"storage":{"status":"ok"},"redis":{"status":"error","error":"unreachable"}}}`
	draining := `{"status":"draining","services":{"database":{"status":"ok"}}}`
	cases := []struct {
		name   string
		url    string
		state  State
		detail string
	}{
		{"200 is healthy", replica(t, 200, healthy), Healthy, ""},
		{"503 naming a failing service is degraded", replica(t, 503, degraded), Degraded, "redis: unreachable"},
		{"draining is down", replica(t, 503, draining), Down, "draining"},
		{"503 without details is down", replica(t, 503, "Service Unavailable"), Down, "answered 503"},
		{"502 from a proxy is down", replica(t, 502, "bad gateway"), Down, "answered 502"},
		{"404 is down", replica(t, 404, "{}"), Down, "answered 404"},
		{"refused connection is down", closedPort(t), Down, "refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obs := Check(context.Background(), &http.Client{}, c.url, 2*time.Second)
			if obs.State != c.state || !strings.Contains(obs.Detail, c.detail) {
				t.Errorf("Check = %v %q, want %v containing %q", obs.State, obs.Detail, c.state, c.detail)
			}
		})
	}
}

func TestCheckTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	start := time.Now()
	obs := Check(context.Background(), &http.Client{}, srv.URL, 150*time.Millisecond)
	if obs.State != Down || !strings.Contains(obs.Detail, "no answer within 150ms") {
		t.Errorf("hanging replica: %v %q, want down, no answer", obs.State, obs.Detail)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("check took %s despite a 150ms timeout", took)
	}
}
