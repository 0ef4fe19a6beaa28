package server_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"circly/config"
	"circly/internal/testdb"
	"circly/ratelimit"
	"circly/server"
	"circly/sqlstore"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// checkRateLimited checks a 429 RATE_LIMIT_EXCEEDED answer and its headers.
func checkRateLimited(t *testing.T, r resp, limit int) {
	t.Helper()
	errObj := checkError(t, 429, "RATE_LIMIT_EXCEEDED", r)
	d, _ := errObj["details"].(map[string]any)
	if d["limit"] != float64(limit) || num(t, d["retry_after_seconds"]) < 1 {
		t.Fatalf("details %v, want limit %d and retry_after_seconds >= 1", d, limit)
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if r.Header.Get("X-RateLimit-Limit") != strconv.Itoa(limit) || r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("X-RateLimit-Limit %q Remaining %q, want %d and 0", r.Header.Get("X-RateLimit-Limit"),
			r.Header.Get("X-RateLimit-Remaining"), limit)
	}
	reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset < time.Now().Unix() {
		t.Fatalf("X-RateLimit-Reset %q is not a Unix time to come", r.Header.Get("X-RateLimit-Reset"))
	}
}

func deviceLogin(e *env, device string, headers ...string) resp {
	e.t.Helper()
	return e.request("POST", "/v1/auth/device-login", "", map[string]any{"device_id": device, "platform": "ios"}, headers...)
}

// TestAuthRateLimitPerIP: AUTH_RATE_LIMIT device logins per IP per minute, then 429; other
// routes do not draw from that budget.
func TestAuthRateLimitPerIP(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite, withConfig(func(c *config.Config) { c.AuthRateLimit = 3 }))
	var last map[string]any
	for i := range 3 {
		last = e.must(200, deviceLogin(e, fmt.Sprintf("d-%d", i)))
	}
	checkRateLimited(t, deviceLogin(e, "d-4"), 3)
	e.must(200, e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": last["refresh_token"]}))
	e.must(200, e.request("GET", "/v1/users/me", last["access_token"].(string), nil))
}

// TestSpoofedForwardedForIgnored: X-Forwarded-For from a peer outside TRUSTED_PROXIES does not
// change the client IP, so it cannot buy a fresh login budget; from a trusted proxy it does.
func TestSpoofedForwardedForIgnored(t *testing.T) {
	t.Run("untrusted peer", func(t *testing.T) {
		e := newEnv(t, sqlstore.SQLite, withConfig(func(c *config.Config) { c.AuthRateLimit = 2 }))
		e.must(200, deviceLogin(e, "a", "X-Forwarded-For", "203.0.113.1"))
		e.must(200, deviceLogin(e, "b", "X-Forwarded-For", "203.0.113.2", "X-Real-IP", "203.0.113.9"))
		checkRateLimited(t, deviceLogin(e, "c", "X-Forwarded-For", "203.0.113.3"), 2)
	})
	t.Run("trusted proxy", func(t *testing.T) {
		e := newEnv(t, sqlstore.SQLite, withConfig(func(c *config.Config) {
			c.AuthRateLimit = 2
			c.TrustedProxies = []string{"127.0.0.1/32", "::1/128"}
		}))
		for i := range 5 {
			e.must(200, deviceLogin(e, fmt.Sprintf("p-%d", i), "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", 10+i)))
		}
		e.must(200, deviceLogin(e, "q-1", "X-Forwarded-For", "198.51.100.7"))
		e.must(200, deviceLogin(e, "q-2", "X-Forwarded-For", "198.51.100.7"))
		checkRateLimited(t, deviceLogin(e, "q-3", "X-Forwarded-For", "198.51.100.7"), 2)
		// An IPv6 client is one budget per /64.
		e.must(200, deviceLogin(e, "v6-1", "X-Forwarded-For", "2001:db8:1:2::1"))
		e.must(200, deviceLogin(e, "v6-2", "X-Forwarded-For", "2001:db8:1:2::2"))
		checkRateLimited(t, deviceLogin(e, "v6-3", "X-Forwarded-For", "2001:db8:1:2:ffff::3"), 2)
	})
}

// TestGeneralRateLimitPerUser: RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW per user on /v1, with
// X-RateLimit-* on allowed answers too; users do not share budgets.
func TestGeneralRateLimitPerUser(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite, withConfig(func(c *config.Config) {
		c.RateLimitRequests, c.RateLimitWindow = 5, time.Hour
	}))
	alice, bob := e.login(), e.login() // two requests from the IP's budget, none from theirs
	for i := range 5 {
		r := e.request("GET", "/v1/users/me", alice.Token, nil)
		e.must(200, r)
		if r.Header.Get("X-RateLimit-Limit") != "5" || r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(4-i) {
			t.Fatalf("request %d: X-RateLimit-Limit %q Remaining %q", i+1, r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"))
		}
	}
	checkRateLimited(t, e.request("GET", "/v1/circles", alice.Token, nil), 5)
	e.must(200, e.request("GET", "/v1/users/me", bob.Token, nil))
	// Outside /v1 nothing is limited.
	for range 10 {
		if r := e.request("GET", "/health", "", nil); r.Status != 200 {
			t.Fatalf("/health %d", r.Status)
		}
	}
	// A forged token is keyed by the IP (not by the user it names) and refused by auth.
	forged := alice.Token[:len(alice.Token)-4] + "AAAA"
	e.fail(401, "INVALID_TOKEN", e.request("GET", "/v1/users/me", forged, nil))
}

// TestPollCreationRateLimit: POST /v1/polls has a per-user budget of its own.
func TestPollCreationRateLimit(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite, noPollLimits(), withConfig(func(c *config.Config) {
		c.RateLimitRequests, c.RateLimitWindow = 1000, time.Minute
	}))
	c := e.newCircle(3)
	for range server.PollCreatePerMinute {
		e.newPoll(c)
	}
	r := e.request("POST", "/v1/polls", c.Members[0].Token, map[string]any{
		"circle_id": c.ID, "template_id": firstTemplate, "duration_hours": 1})
	checkRateLimited(t, r, server.PollCreatePerMinute)
	// Another member still creates polls.
	e.newPollBy(c.Members[1], c, firstTemplate, 1)
}

// TestRateLimitsOff: 0 turns a limit off.
func TestRateLimitsOff(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite, noPollLimits()) // the harness sets both to 0
	for i := range 30 {
		e.must(200, deviceLogin(e, fmt.Sprintf("off-%d", i)))
	}
	c := e.newCircle(3)
	for range server.PollCreatePerMinute + 3 {
		e.newPoll(c)
	}
}

// pendingBudgetRoutes are routes with a budget whose handlers arrive with other branches.
var pendingBudgetRoutes = map[string]bool{}

// TestRouteBudgetsNameRealRoutes: every route in the budget table is a route of the router (a
// typo would silently leave a route unlimited).
func TestRouteBudgetsNameRealRoutes(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	routes := map[string]bool{}
	for _, r := range e.server.Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	for _, k := range server.RouteBudgets() {
		if !routes[k] && !pendingBudgetRoutes[k] {
			t.Errorf("rate-limit table names %q, which is not a route", k)
		}
	}
}

// failingLimiter is a limiter whose store is down.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, ratelimit.Limit) (ratelimit.Result, error) {
	return ratelimit.Result{}, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

// TestRateLimiterFailsOpen: when the limiter fails, requests go through and one warning is
// logged (not one per request).
func TestRateLimiterFailsOpen(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	e := newEnv(t, sqlstore.SQLite, withLog(zap.New(core)), beforeServe(func(s *server.Server) { s.SetLimiter(failingLimiter{}) }),
		withConfig(func(c *config.Config) { c.RateLimitRequests, c.AuthRateLimit = 1, 1 }))
	u := e.login()
	for range 10 {
		e.must(200, e.request("GET", "/v1/users/me", u.Token, nil))
	}
	if n := logs.FilterMessage("rate limiter unavailable: letting requests through").Len(); n != 1 {
		t.Fatalf("%d warnings about the limiter, want 1", n)
	}
}

// TestRedisLimiterSharedByServers: two servers on one Redis draw from one budget.
func TestRedisLimiterSharedByServers(t *testing.T) {
	opts, err := redis.ParseURL(testdb.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.PoolSize = 4
	rc := redis.NewClient(opts)
	defer rc.Close()
	prefix := testdb.RedisKeyPrefix(t, rc, "server")
	limit := withConfig(func(c *config.Config) { c.RateLimitRequests, c.RateLimitWindow = 4, time.Hour })
	var envs [2]*env
	for i := range envs {
		envs[i] = newEnv(t, sqlstore.SQLite, limit, beforeServe(func(s *server.Server) { s.SetLimiter(ratelimit.NewRedis(rc, prefix)) }))
	}
	allowed := 0
	for i := range 12 {
		r := envs[i%2].request("GET", "/v1/openapi.json", "", nil)
		switch r.Status {
		case 200:
			allowed++
		case 429:
			checkRateLimited(t, r, 4)
		default:
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
	}
	if allowed != 4 {
		t.Fatalf("two servers on one Redis allowed %d of 12, want 4", allowed)
	}
}
