// Package testdb gives each test its own migrated database: a fresh SQLite file, or a fresh
// schema in the PostgreSQL named by CIRCLY_TEST_POSTGRES_URL.
//
// PostgreSQL tests skip when the server is unreachable, unless CIRCLY_REQUIRE_POSTGRES=1
// (set by CI), which turns a missing server into a failure. Redis works the same way with
// CIRCLY_TEST_REDIS_URL and CIRCLY_REQUIRE_REDIS.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"circly/sqlstore"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for schema set-up
)

// DefaultPostgresURL is used when CIRCLY_TEST_POSTGRES_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DefaultRedisURL is used when CIRCLY_TEST_REDIS_URL is unset.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// Dialects lists the databases store tests run on.
var Dialects = []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres}

// Open returns a migrated database of the given dialect, closed and dropped at the end of the test.
func Open(t testing.TB, d sqlstore.Dialect) *sqlstore.DB {
	t.Helper()
	if d == sqlstore.Postgres {
		return openPostgres(t, PostgresSchemaURL(t))
	}
	db, err := sqlstore.Open(sqlstore.OpenOptions{SQLitePath: filepath.Join(t.TempDir(), "circly.db")})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	migrate(t, db)
	return db
}

func openPostgres(t testing.TB, dsn string) *sqlstore.DB {
	db, err := sqlstore.Open(sqlstore.OpenOptions{PostgresURL: dsn, MaxOpenConns: 16}) // small: test packages run side by side on one server (max_connections 100)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	migrate(t, db)
	return db
}

func migrate(t testing.TB, db *sqlstore.DB) {
	t.Helper()
	if _, err := db.MigrateUp(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
}

// PostgresURL is the server tests use; it skips (or fails, when required) if none answers.
func PostgresURL(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("CIRCLY_TEST_POSTGRES_URL")
	if dsn == "" {
		dsn = DefaultPostgresURL
	}
	db, err := sql.Open("pgx", dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = db.PingContext(ctx)
		cancel()
		_ = db.Close()
	}
	if err != nil {
		unavailable(t, "CIRCLY_REQUIRE_POSTGRES", "PostgreSQL", err)
	}
	return dsn
}

// PostgresSchemaURL creates an empty schema for this test and returns a URL whose
// search_path points at it. The schema is dropped when the test ends.
func PostgresSchemaURL(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	schema := "t_" + randomHex(8)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// RedisURL is the Redis tests use; it skips (or fails, when required) if none answers.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("CIRCLY_TEST_REDIS_URL")
	if u == "" {
		u = DefaultRedisURL
	}
	if err := pingRedis(u); err != nil {
		unavailable(t, "CIRCLY_REQUIRE_REDIS", "Redis", err)
	}
	return u
}

func unavailable(t testing.TB, requireVar, what string, err error) {
	t.Helper()
	if os.Getenv(requireVar) == "1" {
		t.Fatalf("%s is required (%s=1) but unreachable: %v", what, requireVar, err)
	}
	t.Skipf("%s unreachable (%v); set %s=1 to make this a failure", what, err, requireVar)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ForEach runs fn as a subtest on every dialect.
func ForEach(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}
