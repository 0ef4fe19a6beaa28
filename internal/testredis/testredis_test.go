package testredis

import (
	"context"
	"testing"
	"time"
)

func TestStopStartSamePort(t *testing.T) {
	srv := New(t)
	c := srv.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	port := srv.Port()

	srv.Stop()
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := c.Ping(short).Err(); err == nil {
		t.Fatal("ping answered while the server is stopped")
	}
	srv.Stop() // idempotent

	srv.Start()
	if srv.Port() != port {
		t.Fatalf("port changed across restart: %d then %d", port, srv.Port())
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("data survived a restart (exists=%d, err=%v); the server must keep nothing", n, err)
	}
}

func TestFreezeThaw(t *testing.T) {
	srv := New(t)
	c := srv.Client()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Freeze()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := c.Ping(short).Err()
	cancel()
	if err == nil {
		t.Fatal("a frozen server answered")
	}
	srv.Thaw()
	// A fresh client: the old one's pool may still be waiting out the reply it gave up on.
	if err := srv.Client().Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after thaw: %v", err)
	}
}

func TestStopWhileFrozen(t *testing.T) {
	srv := New(t)
	srv.Freeze()
	done := make(chan struct{})
	go func() { srv.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop hung on a frozen server")
	}
}
