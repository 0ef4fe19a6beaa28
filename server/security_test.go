package server_test

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"circly/config"
	"circly/server"
	"circly/sqlstore"

	"github.com/getsentry/sentry-go"
)

// TestSecurityHeaders: every answer (success, error, 404, outside /v1) carries them; HSTS only
// outside development.
func TestSecurityHeaders(t *testing.T) {
	for _, envName := range []string{config.EnvDevelopment, config.EnvProduction} {
		t.Run(envName, func(t *testing.T) {
			e := newEnv(t, sqlstore.SQLite, withConfig(func(c *config.Config) { c.Env = envName }))
			u := e.login()
			for _, r := range []resp{
				e.request("GET", "/v1/users/me", u.Token, nil),
				e.request("GET", "/v1/users/me", "", nil),
				e.request("GET", "/v1/nowhere", "", nil),
				e.request("GET", "/health", "", nil),
			} {
				h := r.Header
				if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" ||
					h.Get("Content-Security-Policy") != "default-src 'none'; frame-ancestors 'none'" ||
					h.Get("Referrer-Policy") != "no-referrer" {
					t.Fatalf("%d answer lacks security headers: %v", r.Status, h)
				}
				hsts := h.Get("Strict-Transport-Security")
				if (envName == config.EnvDevelopment) != (hsts == "") || (hsts != "" && !strings.Contains(hsts, "max-age=")) {
					t.Fatalf("ENV=%s: Strict-Transport-Security %q", envName, hsts)
				}
			}
		})
	}
}

func preflight(e *env, origin, method string) resp {
	e.t.Helper()
	return e.request("OPTIONS", "/v1/polls", "", nil, "Origin", origin, "Access-Control-Request-Method", method,
		"Access-Control-Request-Headers", "authorization, content-type")
}

func hasVary(h http.Header, v string) bool {
	for _, line := range h.Values("Vary") {
		for _, p := range strings.Split(line, ",") {
			if strings.EqualFold(strings.TrimSpace(p), v) {
				return true
			}
		}
	}
	return false
}

func TestCORS(t *testing.T) {
	t.Run("listed origins", func(t *testing.T) {
		e := newEnv(t, sqlstore.SQLite, withConfig(func(c *config.Config) {
			c.CORSAllowedOrigins = []string{"https://app.circly.test"}
			c.RateLimitRequests = 2 // preflights must not count
		}))
		for range 5 {
			r := preflight(e, "https://app.circly.test", "POST")
			if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.circly.test" ||
				!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") ||
				!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
				r.Header.Get("Access-Control-Max-Age") == "" || !hasVary(r.Header, "Origin") {
				t.Fatalf("preflight: %d %v", r.Status, r.Header)
			}
			if r.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatal("credentials allowed: the API uses bearer tokens, never cookies")
			}
		}
		r := preflight(e, "https://evil.test", "POST")
		e.fail(403, "FORBIDDEN", r)
		if r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("a foreign origin's preflight was allowed: %v", r.Header)
		}
		u := e.login()
		r = e.request("GET", "/v1/users/me", u.Token, nil, "Origin", "https://app.circly.test")
		e.must(200, r)
		if r.Header.Get("Access-Control-Allow-Origin") != "https://app.circly.test" || !hasVary(r.Header, "Origin") ||
			!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID") {
			t.Fatalf("simple request: %v", r.Header)
		}
		r = e.request("GET", "/health", "", nil, "Origin", "https://evil.test")
		if r.Header.Get("Access-Control-Allow-Origin") != "" || !hasVary(r.Header, "Origin") {
			t.Fatalf("foreign origin: %v", r.Header)
		}
	})
	t.Run("any origin", func(t *testing.T) {
		e := newEnv(t, sqlstore.SQLite, withConfig(func(c *config.Config) { c.CORSAllowedOrigins = []string{"*"} }))
		if r := preflight(e, "https://anything.test", "PUT"); r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("preflight: %d %v", r.Status, r.Header)
		}
	})
	t.Run("none configured", func(t *testing.T) {
		e := newEnv(t, sqlstore.SQLite)
		r := preflight(e, "https://app.circly.test", "POST")
		e.fail(405, "METHOD_NOT_ALLOWED", r)
		if r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("CORS headers without CORS_ALLOWED_ORIGINS: %v", r.Header)
		}
	})
}

// sentrySink is a local endpoint speaking Sentry's envelope API; it keeps what it receives.
type sentrySink struct {
	mu     sync.Mutex
	bodies []string
}

func (s *sentrySink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		if z, err := gzip.NewReader(r.Body); err == nil {
			rd = z
		}
	}
	b, _ := io.ReadAll(rd)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(b)+"\nHEADERS "+r.Header.Get("Authorization"))
	s.mu.Unlock()
	w.WriteHeader(200)
}

func (s *sentrySink) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.bodies, "\n----\n")
}

// TestSentryReportsWithoutRequests: with Sentry on, a panic and an internal error each reach it,
// tagged with the route pattern and request id, and nothing of the request (token, body) does.
func TestSentryReportsWithoutRequests(t *testing.T) {
	sink := &sentrySink{}
	hs := httptest.NewServer(sink)
	defer hs.Close()
	dsn := "http://publickey@" + strings.TrimPrefix(hs.URL, "http://") + "/42"
	if err := sentry.Init(sentry.ClientOptions{Dsn: dsn, BeforeSend: server.ScrubSentryEvent, AttachStacktrace: true}); err != nil {
		t.Fatal(err)
	}
	defer sentry.CurrentHub().BindClient(nil)

	e := newEnv(t, sqlstore.SQLite, beforeServe(func(s *server.Server) {
		s.AddPanicRoute("/v1/test/panic/:id", "boom")
		s.AddErrorRoute("/v1/test/error", errors.New("disk on fire"))
	}))
	u := e.login()
	const secretBody = `{"option_id":"9c1b1f5e-0000-4000-8000-5ec2e7b0d1e5"}`
	r := e.request("GET", "/v1/test/panic/"+unknownID+"?token=q-secret", u.Token, secretBody, "X-Request-ID", "sentry-panic")
	e.fail(500, "INTERNAL_ERROR", r)
	e.fail(500, "INTERNAL_ERROR", e.request("GET", "/v1/test/error", u.Token, nil, "X-Request-ID", "sentry-error"))
	e.fail(404, "POLL_NOT_FOUND", e.request("GET", "/v1/polls/"+unknownID, u.Token, nil)) // a client error: not sent
	if !sentry.Flush(10 * time.Second) {
		t.Fatal("Sentry events not delivered within 10s")
	}
	got := sink.all()
	for _, want := range []string{"boom", "disk on fire", "/v1/test/panic/:id", "sentry-panic", "sentry-error"} {
		if !strings.Contains(got, want) {
			t.Errorf("Sentry did not get %q:\n%s", want, got)
		}
	}
	for _, secret := range []string{u.Token, "9c1b1f5e", "q-secret", unknownID, "Bearer", "POLL_NOT_FOUND"} {
		if strings.Contains(got, secret) {
			t.Errorf("Sentry got %q", secret)
		}
	}
	if n := strings.Count(got, "\n----\n") + 1; n != 2 {
		t.Errorf("%d envelopes, want 2 (panic, internal error)", n)
	}
}

// TestNotFoundEchoesNoPath: a 404 names neither the method nor the path, which arrives decoded
// (`..%2f`) and would hand a client's text back inside the API's own message.
func TestNotFoundEchoesNoPath(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	for _, path := range []string{"/v1/polls/..%2f..%2fetc%2fpasswd-marker", "/nowhere-marker/%3Cscript%3E"} {
		r := e.request("GET", path, "", nil)
		checkError(t, 404, "NOT_FOUND", r)
		if s := string(r.Raw); strings.Contains(s, "marker") || strings.Contains(s, "..") || strings.Contains(s, "<script") {
			t.Fatalf("404 for %s echoes the path: %s", path, s)
		}
	}
}
