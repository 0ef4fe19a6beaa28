package testpg_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"circly/internal/testpg"
)

// TestStopAndStart: a stopped server refuses connections, and a started one has kept its data.
func TestStopAndStart(t *testing.T) {
	s := testpg.New(t)
	db, err := sql.Open("pgx", s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(qctx); err == nil {
		t.Fatal("a stopped server answered")
	}
	s.Start()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT n FROM kept").Scan(&n); err != nil || n != 7 {
		t.Fatalf("after restart: n=%d err=%v", n, err)
	}
}
