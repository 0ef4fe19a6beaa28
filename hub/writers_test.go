package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"circly/frames"
	"circly/hub"
	"circly/realtime"
)

// slowTransport counts the writes in progress at once; each takes a little while.
type slowTransport struct {
	sinkTransport
	inFlight, most *atomic.Int64
}

func (s *slowTransport) Write(ctx context.Context, p []byte) error {
	n := s.inFlight.Add(1)
	for {
		m := s.most.Load()
		if n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(200 * time.Microsecond)
	s.inFlight.Add(-1)
	return s.sinkTransport.Write(ctx, p)
}

// TestWritersBounded: a tally to 300 watchers is written by at most Limits.Writers goroutines
// at once, and still reaches every watcher, tally after tally.
func TestWritersBounded(t *testing.T) {
	h := newHarness(t, hub.Limits{Writers: 3})
	const watchers = 300
	p := uuidN("p", 1)
	ch := realtime.PollChannel(p)
	h.world.addPoll(p, "c")
	var inFlight, most atomic.Int64
	sinks := make([]*slowTransport, watchers)
	var wg sync.WaitGroup
	for i := range sinks {
		u := fmt.Sprintf("u%d", i)
		h.world.join("c", u)
		s := &slowTransport{sinkTransport: sinkTransport{closed: make(chan struct{})}, inFlight: &inFlight, most: &most}
		sinks[i] = s
		h.wg.Add(1)
		wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer wg.Done()
			h.hub.Serve(context.Background(), s, hub.Session{UserID: u, Channels: []string{ch}})
		}()
	}
	defer func() {
		for _, s := range sinks {
			_ = s.Close(0, "")
		}
		wg.Wait()
	}()
	wait := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for _, s := range sinks {
			for s.writes.Load() < n {
				if time.Now().After(deadline) {
					t.Fatalf("a watcher has %d of %d frames", s.writes.Load(), n)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	wait(2) // ready + subscribed
	for v := 1; v <= 5; v++ {
		h.hub.HandleMessage(realtime.Message{Channel: ch, Kind: realtime.KindTally, Version: v, Type: frames.TypeTally, Data: json.RawMessage(`{}`)})
		wait(int64(2 + v))
	}
	if m := most.Load(); m > 3 {
		t.Fatalf("%d writes at once, want at most 3", m)
	}
}

// TestStuckWriterReplaced: with one writer, a client that never reads blocks it in Write; the
// sweep lets that writer go and another one serves the next connection.
func TestStuckWriterReplaced(t *testing.T) {
	h := newHarness(t, hub.Limits{Writers: 1})
	stuck := newFake()
	stuck.out <- []byte(`{"type":"ready","user_id":"u"}`) // the gate holds the real one back
	stuck.gate = make(chan struct{})
	h.openFake(stuck, "u")
	defer close(stuck.gate)
	start := time.Now()
	h.open("v") // its ready frame needs a writer: within 5 s, or the test fails
	el := time.Since(start)
	t.Logf("second connection's ready after %v", el)
	if el > 2*time.Second {
		t.Fatalf("the second connection waited %v behind a stuck writer (writerStall is 30 ms)", el)
	}
}

// goneTransport is a client that goes away: Read fails once gone is closed. It can Abort.
type goneTransport struct {
	*fakeTransport
	gone           chan struct{}
	aborts, closes atomic.Int64
}

func (g *goneTransport) Read(ctx context.Context) ([]byte, error) {
	select {
	case b := <-g.in:
		return b, nil
	case <-g.gone:
		return nil, errors.New("connection reset")
	}
}
func (g *goneTransport) Close(code int, reason string) error {
	g.closes.Add(1)
	return g.fakeTransport.Close(code, reason)
}
func (g *goneTransport) Abort() error { g.aborts.Add(1); return nil }

// TestGoneClientAborted: a connection whose client went away is let go with Abort, not a
// close handshake that could only fail, and leaves the hub.
func TestGoneClientAborted(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	g := &goneTransport{fakeTransport: newFake(), gone: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.hub.Serve(context.Background(), g, hub.Session{UserID: "u"})
	}()
	g.expect(t, "ready")
	close(g.gone)
	deadline := time.Now().Add(5 * time.Second)
	for h.hub.Connections() != 0 || g.aborts.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections %d, aborts %d", h.hub.Connections(), g.aborts.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if n := g.closes.Load(); n != 0 {
		t.Fatalf("%d close handshakes to a client that is gone", n)
	}
}

// TestWritersLeaveAProcessor: by default the writers take one processor fewer than the runtime
// has (at least one), so request handling always has one that no writer holds.
func TestWritersLeaveAProcessor(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	if got, want := hub.WritersOf(h.hub), max(1, runtime.GOMAXPROCS(0)-1); got != want {
		t.Fatalf("%d writers by default with GOMAXPROCS %d, want %d", got, runtime.GOMAXPROCS(0), want)
	}
}
