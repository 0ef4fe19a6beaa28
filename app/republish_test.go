package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"circly/realtime"
)

// flakyBroker fails every Publish while down, and records what it accepted.
type flakyBroker struct {
	realtime.MemoryBroker
	mu   sync.Mutex
	down bool
	got  []realtime.Message
}

func (b *flakyBroker) Publish(_ context.Context, m realtime.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return errors.New("connection refused")
	}
	b.got = append(b.got, m)
	return nil
}

func (b *flakyBroker) setDown(down bool) {
	b.mu.Lock()
	b.down = down
	b.mu.Unlock()
}

func (b *flakyBroker) accepted() []realtime.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]realtime.Message(nil), b.got...)
}

// TestFailedPublishIsRetried: messages published while the broker fails reach it once it is
// back, events in their order, tallies conflated to the newest version; nothing stays queued.
func TestFailedPublishIsRetried(t *testing.T) {
	b := &flakyBroker{}
	s := New(nil, b, nil)
	ctx := context.Background()

	b.setDown(true)
	var wg sync.WaitGroup
	for v := 1; v <= 50; v++ { // concurrent tallies of one poll
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.publish(ctx, realtime.Message{Channel: "poll:p", Kind: realtime.KindTally, Version: v})
		}()
	}
	wg.Wait()
	for i := range 5 {
		s.publish(ctx, realtime.Message{Channel: "circle:c", Kind: realtime.KindEvent, Data: []byte(fmt.Sprint(i))})
	}
	time.Sleep(200 * time.Millisecond) // a few failed retries
	if len(b.accepted()) != 0 {
		t.Fatal("accepted while down")
	}
	b.setDown(false)

	deadline := time.Now().Add(10 * time.Second)
	for s.busy() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.busy() {
		t.Fatal("retrier still running after the broker came back")
	}
	got := b.accepted()
	var tallies []int
	var events []string
	for _, m := range got {
		if m.Kind == realtime.KindTally {
			tallies = append(tallies, m.Version)
		} else {
			events = append(events, string(m.Data))
		}
	}
	if len(tallies) != 1 || tallies[0] != 50 {
		t.Errorf("tallies delivered %v, want only the newest (50)", tallies)
	}
	if fmt.Sprint(events) != "[0 1 2 3 4]" {
		t.Errorf("events delivered %v, want in order", events)
	}

	// Once drained, publishing is direct again.
	s.publish(ctx, realtime.Message{Channel: "poll:p", Kind: realtime.KindTally, Version: 51})
	if got := b.accepted(); got[len(got)-1].Version != 51 || s.busy() {
		t.Errorf("publish after recovery was not direct: %v busy=%v", got[len(got)-1], s.busy())
	}
}

// TestCloseStopsTheRepublisher: Close lets the retrier empty the queue while ctx allows, then
// ends it: with the broker still down, Close returns once ctx ends and no retry follows; with
// the broker back in time, the queued message is delivered before Close returns.
func TestCloseStopsTheRepublisher(t *testing.T) {
	b := &flakyBroker{}
	s := New(nil, b, nil)
	b.setDown(true)
	s.publish(context.Background(), realtime.Message{Channel: "circle:c", Kind: realtime.KindEvent, Data: []byte("1")})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s.Close(ctx)
	if s.busy() {
		t.Fatal("the retrier still runs after Close")
	}
	b.setDown(false)
	s.publish(context.Background(), realtime.Message{Channel: "circle:c", Kind: realtime.KindEvent, Data: []byte("2")})
	time.Sleep(300 * time.Millisecond)
	if got := b.accepted(); len(got) != 1 || string(got[0].Data) != "2" {
		t.Fatalf("after Close the broker got %v; want only the direct publish", got)
	}

	// Back in time: Close waits for the queue to empty.
	b2 := &flakyBroker{}
	s2 := New(nil, b2, nil)
	b2.setDown(true)
	s2.publish(context.Background(), realtime.Message{Channel: "circle:c", Kind: realtime.KindEvent, Data: []byte("3")})
	time.AfterFunc(100*time.Millisecond, func() { b2.setDown(false) })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	s2.Close(ctx2)
	if got := b2.accepted(); len(got) != 1 || string(got[0].Data) != "3" {
		t.Fatalf("Close returned before the queued message went out: %v", got)
	}
}
