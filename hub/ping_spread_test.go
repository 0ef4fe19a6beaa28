package hub_test

import (
	"testing"
	"time"

	"circly/hub"
)

// TestFirstPingsSpread: connections opened together are first pinged at spread-out moments
// within the second half of the interval, never later than the interval.
func TestFirstPingsSpread(t *testing.T) {
	const interval = 25 * time.Second
	seen := map[time.Duration]bool{}
	lo, hi := interval, time.Duration(0)
	for range 10000 {
		d := hub.FirstPing(interval)
		if d < interval/2 || d > interval {
			t.Fatalf("first ping after %s, want within [%s, %s]", d, interval/2, interval)
		}
		seen[d.Truncate(time.Second)] = true
		lo, hi = min(lo, d), max(hi, d)
	}
	// 10,000 connections over 12.5 s: every one-second tick of the sweep gets some, none gets all.
	if len(seen) < 12 || hi-lo < interval/2-time.Second {
		t.Fatalf("first pings fall in %d distinct seconds between %s and %s: not spread", len(seen), lo, hi)
	}
}
