package hub_test

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"

	"circly/hub"
	"circly/realtime"
)

// deep uses about n KiB of stack, as a database driver's call chain does.
//
//go:noinline
func deep(n int) byte {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n <= 0 {
		return pad[0]
	}
	return deep(n-1) + pad[n%len(pad)]
}

// TestSubscribeLeavesReaderStackSmall: the work of a frame (here an Authorize that goes 64 KiB
// deep) must not run on the connection's long-lived reader goroutine, whose stack would stay
// grown for as long as the connection lives (the runtime halves a stack once per GC at most,
// and only while it is mostly unused).
func TestSubscribeLeavesReaderStackSmall(t *testing.T) {
	h := newHarness(t, hub.Limits{MaxConnsPerUser: 1000})
	h.world.addPoll(uuidN("poll", 1), "c1")
	ch := realtime.PollChannel(uuidN("poll", 1))
	h.world.onAuth = func(string, string) { deep(64) }
	const n = 300
	// Signed: goroutines of earlier tests that exit meanwhile can make the total shrink.
	stack := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.StackInuse)
	}
	// No collections while connecting: each one may halve an idle grown stack, which would
	// hide the failure this test looks for.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	before := stack()
	for i := range n {
		u := fmt.Sprintf("u%d", i)
		h.world.join("c1", u)
		f := h.open(u)
		f.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
		f.expect(t, "subscribed")
	}
	perConn := float64(stack()-before) / n
	t.Logf("stack in use: %.0f bytes per subscribed connection", perConn)
	if perConn > 12<<10 {
		t.Fatalf("%.0f bytes of stack per subscribed connection: the subscribe ran on the reader's stack", perConn)
	}
}
