package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"circly/internal/testdb"

	"github.com/redis/go-redis/v9"
)

// redisPinger is a go-redis client as a server.Pinger (as cmd/circly wires it).
type redisPinger struct{ c *redis.Client }

func (r redisPinger) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

func newRedisPinger(t *testing.T, opts *redis.Options) redisPinger {
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return redisPinger{c}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	r := e.request("GET", "/health", "", nil)
	if r.Status != 200 || r.Body["status"] != "ok" || r.Body["version"] != "test" || r.Body["environment"] != "development" {
		t.Fatalf("health %d %s", r.Status, r.Raw)
	}
	if ts, err := time.Parse(time.RFC3339, r.Body["timestamp"].(string)); err != nil || time.Since(ts) > time.Minute {
		t.Fatalf("timestamp %v", r.Body["timestamp"])
	}
	e.server.StartDraining()
	r = e.request("GET", "/health", "", nil)
	if r.Status != 503 || r.Body["status"] == "ok" {
		t.Fatalf("draining health %d %s", r.Status, r.Raw)
	}
	if r := e.request("GET", "/health/detailed", "", nil); r.Status != 503 {
		t.Fatalf("draining detailed health %d %s", r.Status, r.Raw)
	}
	// The API itself keeps answering while the replica drains.
	e.must(200, e.request("GET", "/v1/users/me", e.login().Token, nil))
}

// detailed fetches /health/detailed and returns its status and services.
func detailed(t *testing.T, e *env, wantStatus int) (string, map[string]map[string]any) {
	t.Helper()
	r := e.request("GET", "/health/detailed", "", nil)
	if r.Status != wantStatus {
		t.Fatalf("detailed health %d, want %d: %s", r.Status, wantStatus, r.Raw)
	}
	services := map[string]map[string]any{}
	raw, _ := r.Body["services"].(map[string]any)
	for _, k := range []string{"database", "redis", "storage"} {
		s, ok := raw[k].(map[string]any)
		if !ok {
			t.Fatalf("no services.%s: %s", k, r.Raw)
		}
		if _, ok := s["status"].(string); !ok {
			t.Fatalf("services.%s without status: %s", k, r.Raw)
		}
		services[k] = s
	}
	for _, k := range []string{"database", "storage"} {
		if _, ok := services[k]["response_time_ms"].(float64); !ok {
			t.Fatalf("services.%s without response_time_ms: %s", k, r.Raw)
		}
	}
	m, _ := r.Body["metrics"].(map[string]any)
	for _, k := range []string{"ws_connections", "goroutines", "memory_bytes"} {
		if _, ok := m[k].(float64); !ok {
			t.Fatalf("metrics.%s missing: %s", k, r.Raw)
		}
	}
	if _, err := time.Parse(time.RFC3339, r.Body["timestamp"].(string)); err != nil {
		t.Fatalf("timestamp: %s", r.Raw)
	}
	return r.Body["status"].(string), services
}

func TestHealthDetailed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		status, s := detailed(t, e, 200)
		if status != "ok" || s["database"]["status"] != "ok" || s["storage"]["status"] != "ok" || s["redis"]["status"] != "disabled" {
			t.Fatalf("embedded mode: %s %v", status, s)
		}
	})
}

func TestHealthDetailedRedis(t *testing.T) {
	url := testdb.RedisURL(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, testdb.Dialects[0], withRedis(newRedisPinger(t, opts)))
	status, s := detailed(t, e, 200)
	if status != "ok" || s["redis"]["status"] != "ok" || s["database"]["status"] != "ok" {
		t.Fatalf("with Redis: %s %v", status, s)
	}
	if _, ok := s["redis"]["response_time_ms"].(float64); !ok {
		t.Fatalf("redis without response_time_ms: %v", s["redis"])
	}
}

func TestHealthDetailedRedisDown(t *testing.T) {
	dead := newRedisPinger(t, &redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	e := newEnv(t, testdb.Dialects[0], withRedis(dead))
	start := time.Now()
	status, s := detailed(t, e, 503)
	if status != "error" || s["redis"]["status"] != "error" || s["database"]["status"] != "ok" {
		t.Fatalf("Redis down: %s %v", status, s)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("a dead Redis took %s to report", time.Since(start))
	}
	// The plain liveness check does not depend on Redis.
	if r := e.request("GET", "/health", "", nil); r.Status != 200 {
		t.Fatalf("/health with Redis down: %d", r.Status)
	}
}

func TestHealthDetailedDatabaseDown(t *testing.T) {
	e := newEnv(t, testdb.Dialects[1])
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	status, s := detailed(t, e, 503)
	if status != "error" || s["database"]["status"] != "error" {
		t.Fatalf("database down: %s %v", status, s)
	}
	// An API call that needs the database is a 500 envelope without SQL in it.
	r := e.request("POST", "/v1/auth/device-login", "", map[string]any{"device_id": "d", "platform": "ios"})
	if r.Status != 500 {
		t.Fatalf("database down: %d %s", r.Status, r.Raw)
	}
	checkError(t, 500, r.Code(), r)
	if strings.Contains(strings.ToLower(string(r.Raw)), "sql") || strings.Contains(string(r.Raw), "closed") {
		t.Fatalf("500 body leaks the database error: %s", r.Raw)
	}
}
