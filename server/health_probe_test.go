package server_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"circly/internal/testdb"

	"github.com/redis/go-redis/v9"
)

// TestDependenciesUp: the probe behind health_dependency_up reports what /health/detailed
// reports, leaving out a Redis that is not configured.
func TestDependenciesUp(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, testdb.Dialects[0])
	if got, want := e.server.DependenciesUp(ctx), map[string]bool{"database": true, "storage": true}; !maps.Equal(got, want) {
		t.Fatalf("embedded: %v, want %v", got, want)
	}

	dead := newRedisPinger(t, &redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	e = newEnv(t, testdb.Dialects[0], withRedis(dead))
	if got, want := e.server.DependenciesUp(ctx), map[string]bool{"database": true, "storage": true, "redis": false}; !maps.Equal(got, want) {
		t.Fatalf("Redis down: %v, want %v", got, want)
	}

	e = newEnv(t, testdb.Dialects[0])
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := e.server.DependenciesUp(ctx), map[string]bool{"database": false, "storage": true}; !maps.Equal(got, want) {
		t.Fatalf("database down: %v, want %v", got, want)
	}
}
