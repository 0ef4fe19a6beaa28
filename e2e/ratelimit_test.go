package e2e_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testredis"
)

// callFrom sends a request as if a proxy had forwarded it for client ip.
func callFrom(t *testing.T, ip, method, url, token string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", ip)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

// randomClientIP is an IPv6 address in its own /64 of the documentation range, so the test's
// budgets share nothing with other runs on the same Redis.
func randomClientIP() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("2001:db8:%x:%x:%x::1", uint16(b[0])<<8|uint16(b[1]), uint16(b[2])<<8|uint16(b[3]), uint16(b[4])<<8|uint16(b[5]))
}

func check429(t *testing.T, h http.Header, body map[string]any, limit int) {
	t.Helper()
	e, _ := body["error"].(map[string]any)
	if body["success"] != false || e["code"] != "RATE_LIMIT_EXCEEDED" {
		t.Fatalf("429 body %v", body)
	}
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", h.Get("Retry-After"))
	}
	if h.Get("X-RateLimit-Limit") != strconv.Itoa(limit) || h.Get("X-RateLimit-Remaining") != "0" || h.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("X-RateLimit-* %v", h)
	}
}

// TestRateLimitsSharedAcrossReplicas: two replicas on one Redis together allow each budget once,
// not once each: device logins per IP and requests per user. Replica A also serves /metrics on
// METRICS_ADDR instead of its main port.
func TestRateLimitsSharedAcrossReplicas(t *testing.T) {
	pg := testdb.PostgresSchemaURL(t)
	rd := testredis.New(t).URL()
	secret := "e2e-shared-secret-0123456789abcdef-" + t.Name()
	limits := func(vars map[string]string) map[string]string {
		vars["RATE_LIMIT_REQUESTS"], vars["RATE_LIMIT_WINDOW"], vars["AUTH_RATE_LIMIT"] = "10", "1h", "3"
		vars["TRUSTED_PROXIES"] = "127.0.0.1/32,::1/128"
		return vars
	}
	envA := limits(distributedEnv(t, pg, rd, secret))
	envA["METRICS_ADDR"], envA["LOG_LEVEL"] = "127.0.0.1:0", "info" // the bound address is logged
	envA["METRICS_PPROF"] = "true"
	a := startProc(t, "replica-A", envA)
	b := startProc(t, "replica-B", limits(distributedEnv(t, pg, rd, secret)))
	a.waitHealthy(90 * time.Second)
	b.waitHealthy(90 * time.Second)
	servers := []string{a.URL, b.URL}

	// Device logins from one client IP, alternating replicas: AUTH_RATE_LIMIT (3) in all.
	ip := randomClientIP()
	var token string
	logins, refused := 0, 0
	for i := range 8 {
		st, h, body := callFrom(t, ip, "POST", servers[i%2]+"/v1/auth/device-login", "",
			map[string]any{"device_id": fmt.Sprintf("rl-%s-%d", ip, i), "platform": "ios"})
		switch st {
		case 200:
			logins++
			token = body["data"].(map[string]any)["access_token"].(string)
		case 429:
			refused++
			check429(t, h, body, 3)
		default:
			t.Fatalf("login %d: %d %v", i, st, body)
		}
	}
	if logins != 3 || refused != 5 {
		t.Fatalf("two replicas allowed %d device logins from one IP (refused %d), want 3 in all", logins, refused)
	}

	// One user's requests, alternating replicas: RATE_LIMIT_REQUESTS (10) in all, not 20.
	ok, limited := 0, 0
	for i := range 30 {
		st, h, body := callFrom(t, randomClientIP(), "GET", servers[i%2]+"/v1/users/me", token, nil)
		switch st {
		case 200:
			ok++
		case 429:
			limited++
			check429(t, h, body, 10)
		default:
			t.Fatalf("request %d: %d %v", i, st, body)
		}
	}
	if ok != 10 || limited != 20 {
		t.Fatalf("two replicas allowed %d of 30 requests of one user (refused %d), want 10", ok, limited)
	}

	// METRICS_ADDR: /metrics moved off the main port.
	if r, err := call("GET", a.URL+"/metrics", "", nil); err != nil || r.Status != 404 {
		t.Fatalf("main port /metrics: %d %v, want 404", r.Status, err)
	}
	m := regexp.MustCompile(`metrics are served apart.*"addr": ?"([0-9.]+:[0-9]+)"`).FindStringSubmatch(a.stderr.String())
	if m == nil {
		t.Fatalf("replica A did not log its metrics address:\n%s", a.stderr.String())
	}
	resp, err := httpClient.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !regexp.MustCompile(`(?m)^http_rate_limited_total\{budget="auth"\} [1-9]`).Match(text) {
		t.Fatalf("METRICS_ADDR /metrics: %d\n%.500s", resp.StatusCode, text)
	}
	if !strings.Contains(string(text), `http_requests_total{method="GET",route="/v1/users/me",status="429"}`) {
		t.Fatalf("no 429 series for /v1/users/me in:\n%.2000s", text)
	}

	// METRICS_PPROF: profiles on the metrics listener only.
	if r, err := call("GET", a.URL+"/debug/pprof/heap", "", nil); err != nil || r.Status != 404 {
		t.Fatalf("main port /debug/pprof/heap: %d %v, want 404", r.Status, err)
	}
	resp, err = httpClient.Get("http://" + m[1] + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	text, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(text), "heap profile") {
		t.Fatalf("METRICS_ADDR /debug/pprof/heap: %d\n%.300s", resp.StatusCode, text)
	}
}
