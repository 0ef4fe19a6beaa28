package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"circly/frames"
	"circly/hub"
	"circly/realtime"
)

// sinkTransport discards writes; it counts them so the test knows when fan-out is done.
type sinkTransport struct {
	writes atomic.Int64
	bytes  atomic.Int64
	closed chan struct{}
}

func (s *sinkTransport) Read(ctx context.Context) ([]byte, error) {
	select {
	case <-s.closed:
	case <-ctx.Done():
	}
	return nil, context.Canceled
}
func (s *sinkTransport) Write(_ context.Context, p []byte) error {
	s.bytes.Add(int64(len(p)))
	s.writes.Add(1)
	return nil
}
func (s *sinkTransport) Ping() error   { return nil }
func (s *sinkTransport) Pongs() uint64 { return 0 }
func (s *sinkTransport) Close(int, string) error {
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	return nil
}

// TestHotPollFanOutAllocations: a tally to 5,000 watchers of one poll costs no allocation per
// watcher: the frame is shared and each connection keeps its pending tally by value.
func TestHotPollFanOutAllocations(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	const watchers = 5000
	p := uuidN("p", 1)
	ch := realtime.PollChannel(p)
	h.world.addPoll(p, "c")
	sinks := make([]*sinkTransport, watchers)
	for i := range sinks {
		u := fmt.Sprintf("u%d", i)
		h.world.join("c", u)
		s := &sinkTransport{closed: make(chan struct{})}
		sinks[i] = s
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.hub.Serve(context.Background(), s, hub.Session{UserID: u, Channels: []string{ch}})
		}()
	}
	waitWrites := func(n int64) {
		deadline := time.Now().Add(30 * time.Second)
		for _, s := range sinks {
			for s.writes.Load() < n {
				if time.Now().After(deadline) {
					t.Fatalf("fan-out incomplete")
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	waitWrites(2) // ready + subscribed
	data := json.RawMessage(`{}`)
	v := 0
	var written int64 = 2
	allocs := testing.AllocsPerRun(20, func() {
		v++
		h.hub.HandleMessage(realtime.Message{Channel: ch, Kind: realtime.KindTally, Version: v, Type: frames.TypeTally, Data: data})
		written++
		waitWrites(written)
	})
	t.Logf("%.0f allocations per tally fanned out to %d watchers", allocs, watchers)
	if allocs > watchers/10 {
		t.Errorf("%.0f allocations per tally to %d watchers: fan-out allocates per watcher", allocs, watchers)
	}
	for _, s := range sinks {
		_ = s.Close(0, "")
	}
}

// TestPublishDoesNotWaitForFanOut: HandleMessage (the in-memory broker calls it in a vote's
// request) returns while the fan-out cannot even start, and the fan-out then delivers every
// message of the channel in order, none lost.
func TestPublishDoesNotWaitForFanOut(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	circle := uuidN("c", 1)
	ch := realtime.CircleChannel(circle)
	h.world.join(circle, "u")
	f := h.open("u")
	f.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	f.expect(t, "subscribed")

	release := hub.HoldRegistry(h.hub)
	const n = 100 // within the event queue (128)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		for i := 0; i < n; i++ {
			h.hub.HandleMessage(realtime.Message{Channel: ch, Kind: realtime.KindEvent, Type: frames.TypeEvent,
				Event: fmt.Sprintf("e%d", i), Data: json.RawMessage(`{}`)})
		}
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		release()
		t.Fatal("HandleMessage waited for the fan-out")
	}
	if hub.FanOutIdle(h.hub) {
		t.Fatal("the fan-out finished while the registry was held")
	}
	release()
	for i := 0; i < n; i++ {
		m := f.expect(t, "event")
		if m["event"] != fmt.Sprintf("e%d", i) {
			t.Fatalf("event %d is %v: order lost", i, m["event"])
		}
	}
}

// sharedFake records which of a SharedWriter's two methods sent each frame.
type sharedFake struct {
	*fakeTransport
	mu     sync.Mutex
	shared map[string]bool // frame type → sent through WriteShared
}

func (s *sharedFake) WriteShared(p []byte) error { return s.write(p, true) }

func (s *sharedFake) Write(ctx context.Context, p []byte) error { return s.write(p, false) }

func (s *sharedFake) write(p []byte, shared bool) error {
	var f struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(p, &f)
	s.mu.Lock()
	s.shared[f.Type] = shared
	s.mu.Unlock()
	return s.fakeTransport.Write(context.Background(), p)
}

// TestFanOutFramesGoThroughWriteShared: a broker message's frame (the same slice for every
// watcher) is written through WriteShared, a connection's own frames (ready, subscribed, pong)
// through Write: only the former may be encoded once for all.
func TestFanOutFramesGoThroughWriteShared(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	h.world.addPoll(uuidN("p", 1), "c")
	h.world.join("c", "u")
	ch := realtime.PollChannel(uuidN("p", 1))
	f := &sharedFake{fakeTransport: newFake(), shared: map[string]bool{}}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.hub.Serve(context.Background(), f, hub.Session{UserID: "u"})
	}()
	f.expect(t, "ready")
	f.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	f.expect(t, "subscribed")
	h.publishTally(ch, 1)
	f.expect(t, "tally")
	h.publishEvent(ch, "poll_updated")
	f.expect(t, "event")
	f.send(map[string]any{"type": "ping", "id": 2})
	f.expect(t, "pong")
	f.mu.Lock()
	defer f.mu.Unlock()
	want := map[string]bool{"ready": false, "subscribed": false, "pong": false, "tally": true, "event": true}
	for typ, shared := range want {
		if got, ok := f.shared[typ]; !ok || got != shared {
			t.Errorf("%s: written shared=%v (seen %v), want shared=%v", typ, got, ok, shared)
		}
	}
}
