package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// touchCounter records the activity writes.
type touchCounter struct {
	mu     sync.Mutex
	writes [][]string
}

func (c *touchCounter) UserExists(context.Context, string) (bool, error) { return true, nil }

func (c *touchCounter) TouchUsers(_ context.Context, ids []string, _ time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, ids)
	return nil
}

func (c *touchCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.writes)
}

// TestActivityWriterStops: stop writes what is queued at once, and nothing is written after it
// (the database closes next), not even by the flush that was due.
func TestActivityWriterStops(t *testing.T) {
	c := &touchCounter{}
	l := newLiveUsers(c, zap.NewNop(), time.Minute)
	if _, err := l.alive(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	l.stop()
	if n := c.count(); n != 1 {
		t.Fatalf("%d writes at stop, want the queued one", n)
	}
	l.touch("u2")
	time.Sleep(touchDelay + 200*time.Millisecond)
	if n := c.count(); n != 1 {
		t.Fatalf("%d writes after stop", n)
	}
}
