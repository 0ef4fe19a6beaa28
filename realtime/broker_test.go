package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"circly/realtime"
)

// waitLimit only bounds how long a broken broker can hang a test; no test measures speed.
const waitLimit = 20 * time.Second

// TestMemoryBroker and TestRedisBroker run the same suite: whatever the hub may rely on holds
// for both.
func TestMemoryBroker(t *testing.T) {
	testBroker(t, func(t *testing.T) realtime.Broker { return realtime.NewMemoryBroker() })
}

func TestRedisBroker(t *testing.T) {
	// Both protocols: pub/sub replies differ between RESP2 (arrays) and RESP3 (pushes).
	for _, protocol := range []int{3, 2} {
		t.Run("resp"+strconv.Itoa(protocol), func(t *testing.T) {
			testBroker(t, func(t *testing.T) realtime.Broker {
				return newRedisBroker(t, sharedRedisProtocol(t, protocol), uniquePrefix())
			})
		})
	}
}

// testBroker runs every shared case; newBroker returns a broker not yet started.
func testBroker(t *testing.T, newBroker func(t *testing.T) realtime.Broker) {
	ctx := context.Background()
	start := func(t *testing.T) (realtime.Broker, *recorder) {
		t.Helper()
		b := newBroker(t)
		rec := newRecorder()
		if err := b.Start(ctx, rec); err != nil {
			t.Fatalf("start: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b, rec
	}

	t.Run("publish reaches a subscriber intact", func(t *testing.T) {
		b, rec := start(t)
		mustSubscribe(t, b, "poll:p1", realtime.ControlChannel)
		tally := tallyMsg("poll:p1", 7)
		removal := realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindRemoval, UserID: "u1", CircleID: "c1"}
		mustPublish(t, b, tally)
		mustPublish(t, b, removal)
		rec.waitCount(t, "poll:p1", 1)
		rec.waitCount(t, realtime.ControlChannel, 1)
		assertSameMessage(t, rec.messages("poll:p1")[0], tally)
		assertSameMessage(t, rec.messages(realtime.ControlChannel)[0], removal)
	})

	t.Run("nothing arrives on channels not subscribed", func(t *testing.T) {
		b, rec := start(t)
		mustSubscribe(t, b, "poll:wanted")
		mustPublish(t, b, tallyMsg("poll:other", 1))
		mustPublish(t, b, tallyMsg("poll:wanted", 1)) // published after: a sentinel
		rec.waitCount(t, "poll:wanted", 1)
		if n := rec.count("poll:other"); n != 0 {
			t.Fatalf("got %d messages on a channel never subscribed", n)
		}
	})

	t.Run("unsubscribe stops delivery and subscribe restores it", func(t *testing.T) {
		b, rec := start(t)
		mustSubscribe(t, b, "poll:a", "poll:b")
		mustPublish(t, b, tallyMsg("poll:a", 1))
		rec.waitCount(t, "poll:a", 1)
		if err := b.Unsubscribe(ctx, "poll:a"); err != nil {
			t.Fatalf("unsubscribe: %v", err)
		}
		mustPublish(t, b, tallyMsg("poll:a", 2))
		mustPublish(t, b, tallyMsg("poll:b", 1))
		rec.waitCount(t, "poll:b", 1)
		if n := rec.count("poll:a"); n != 1 {
			t.Fatalf("poll:a got %d messages, want 1: delivery went on after Unsubscribe", n)
		}
		mustSubscribe(t, b, "poll:a")
		mustPublish(t, b, tallyMsg("poll:a", 3))
		rec.waitCount(t, "poll:a", 2)
		if got := rec.versions("poll:a"); !slices.Equal(got, []int{1, 3}) {
			t.Fatalf("poll:a versions = %v, want [1 3]", got)
		}
	})

	t.Run("many channels, subscribed in one call and in many", func(t *testing.T) {
		b, rec := start(t)
		const n = 2000
		channels := make([]string, n)
		for i := range channels {
			channels[i] = realtime.PollChannel("many" + strconv.Itoa(i))
		}
		mustSubscribe(t, b, channels[:n/2]...)
		parallel(t, 32, func(g int) error {
			for i := n/2 + g; i < n; i += 32 {
				if err := b.Subscribe(ctx, channels[i]); err != nil {
					return err
				}
			}
			return nil
		})
		parallel(t, 8, func(g int) error {
			for i := g; i < n; i += 8 {
				if err := b.Publish(ctx, tallyMsg(channels[i], i)); err != nil {
					return err
				}
			}
			return nil
		})
		rec.waitTotal(t, n)
		for i, ch := range channels {
			if got := rec.versions(ch); !slices.Equal(got, []int{i}) {
				t.Fatalf("%s got versions %v, want [%d]", ch, got, i)
			}
		}
	})

	t.Run("order is kept per channel", func(t *testing.T) {
		b, rec := start(t)
		const channels, perChannel = 16, 150
		for c := range channels {
			mustSubscribe(t, b, "circle:order"+strconv.Itoa(c))
		}
		parallel(t, channels, func(c int) error {
			ch := "circle:order" + strconv.Itoa(c)
			for v := 1; v <= perChannel; v++ {
				m := realtime.Message{Channel: ch, Kind: realtime.KindEvent, Version: v, Frame: json.RawMessage(`{"type":"member_joined"}`)}
				if err := b.Publish(ctx, m); err != nil {
					return err
				}
			}
			return nil
		})
		rec.waitTotal(t, channels*perChannel)
		for c := range channels {
			got := rec.versions("circle:order" + strconv.Itoa(c))
			for i, v := range got {
				if v != i+1 {
					t.Fatalf("channel %d: message %d has version %d: order lost (%v)", c, i, v, got)
				}
			}
		}
	})

	t.Run("concurrent subscribe, publish and unsubscribe", func(t *testing.T) {
		b, rec := start(t)
		const workers, rounds = 24, 25
		stop := make(chan struct{})
		var noise sync.WaitGroup
		// Noise: publications on channels nobody subscribes, and churn on a shared set.
		for g := range 4 {
			noise.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 1))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					_ = b.Publish(ctx, tallyMsg("poll:noise"+strconv.Itoa(rng.IntN(50)), i))
					shared := "user:churn" + strconv.Itoa(rng.IntN(20))
					if rng.IntN(2) == 0 {
						_ = b.Subscribe(ctx, shared)
					} else {
						_ = b.Unsubscribe(ctx, shared)
					}
				}
			})
		}
		// Workers: each owns a channel and checks that a publication right after Subscribe
		// arrives, every round.
		parallel(t, workers, func(g int) error {
			ch := realtime.PollChannel("worker" + strconv.Itoa(g))
			for r := range rounds {
				if err := b.Subscribe(ctx, ch); err != nil {
					return err
				}
				if err := b.Publish(ctx, tallyMsg(ch, r)); err != nil {
					return err
				}
				if err := rec.waitCountErr(ch, r+1); err != nil {
					return err
				}
				if err := b.Unsubscribe(ctx, ch); err != nil {
					return err
				}
			}
			return nil
		})
		close(stop)
		noise.Wait()
		for g := range workers {
			ch := realtime.PollChannel("worker" + strconv.Itoa(g))
			got := rec.versions(ch)
			if len(got) != rounds {
				t.Fatalf("%s got %d messages, want %d: %v", ch, len(got), rounds, got)
			}
			for i, v := range got {
				if v != i {
					t.Fatalf("%s versions %v: out of order or duplicated", ch, got)
				}
			}
		}
		for i := range 50 {
			if n := rec.count("poll:noise" + strconv.Itoa(i)); n != 0 {
				t.Fatalf("poll:noise%d delivered %d messages though never subscribed", i, n)
			}
		}
	})

	t.Run("start twice fails", func(t *testing.T) {
		b, _ := start(t)
		if err := b.Start(ctx, newRecorder()); err == nil {
			t.Fatal("second Start succeeded")
		}
	})

	t.Run("close", func(t *testing.T) {
		b, rec := start(t)
		mustSubscribe(t, b, "poll:c")
		mustPublish(t, b, tallyMsg("poll:c", 1))
		rec.waitCount(t, "poll:c", 1)
		if err := b.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if err := b.Publish(ctx, tallyMsg("poll:c", 2)); !errors.Is(err, realtime.ErrClosed) {
			t.Fatalf("publish after close: %v, want ErrClosed", err)
		}
		if err := b.Subscribe(ctx, "poll:d"); !errors.Is(err, realtime.ErrClosed) {
			t.Fatalf("subscribe after close: %v, want ErrClosed", err)
		}
		if err := b.Unsubscribe(ctx, "poll:c"); err != nil {
			t.Fatalf("unsubscribe after close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		if n := rec.count("poll:c"); n != 1 {
			t.Fatalf("poll:c got %d messages, want 1", n)
		}
		if n := rec.reconnectCount(); n != 0 {
			t.Fatalf("HandleReconnect called %d times without a link loss", n)
		}
	})
}

// recorder is a Handler that keeps everything it is given.
type recorder struct {
	mu         sync.Mutex
	byChannel  map[string][]realtime.Message
	total      int
	reconnects int
}

func newRecorder() *recorder { return &recorder{byChannel: make(map[string][]realtime.Message)} }

func (r *recorder) HandleMessage(m realtime.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byChannel[m.Channel] = append(r.byChannel[m.Channel], m)
	r.total++
}

func (r *recorder) HandleReconnect() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reconnects++
}

func (r *recorder) messages(ch string) []realtime.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.byChannel[ch])
}

func (r *recorder) count(ch string) int { return len(r.messages(ch)) }

func (r *recorder) versions(ch string) []int {
	var vs []int
	for _, m := range r.messages(ch) {
		vs = append(vs, m.Version)
	}
	return vs
}

func (r *recorder) totalCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

func (r *recorder) reconnectCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reconnects
}

func (r *recorder) waitCount(t *testing.T, ch string, n int) {
	t.Helper()
	if err := r.waitCountErr(ch, n); err != nil {
		t.Fatal(err)
	}
}

func (r *recorder) waitCountErr(ch string, n int) error {
	if !eventually(func() bool { return r.count(ch) >= n }) {
		return fmt.Errorf("%s: %d messages after %s, want %d", ch, r.count(ch), waitLimit, n)
	}
	return nil
}

func (r *recorder) waitTotal(t *testing.T, n int) {
	t.Helper()
	if !eventually(func() bool { return r.totalCount() >= n }) {
		t.Fatalf("%d messages after %s, want %d", r.totalCount(), waitLimit, n)
	}
}

func (r *recorder) waitReconnects(t *testing.T, n int) {
	t.Helper()
	if !eventually(func() bool { return r.reconnectCount() >= n }) {
		t.Fatalf("HandleReconnect called %d times after %s, want %d", r.reconnectCount(), waitLimit, n)
	}
}

func eventually(cond func() bool) bool {
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func tallyMsg(ch string, version int) realtime.Message {
	frame := fmt.Sprintf(`{"type":"tally","data":{"version":%d}}`, version)
	return realtime.Message{Channel: ch, Kind: realtime.KindTally, Version: version, Frame: json.RawMessage(frame)}
}

func assertSameMessage(t *testing.T, got, want realtime.Message) {
	t.Helper()
	if got.Channel != want.Channel || got.Kind != want.Kind || got.Version != want.Version ||
		string(got.Frame) != string(want.Frame) || got.UserID != want.UserID || got.CircleID != want.CircleID {
		t.Fatalf("got %+v (frame %s), want %+v (frame %s)", got, got.Frame, want, want.Frame)
	}
}

func mustSubscribe(t *testing.T, b realtime.Broker, channels ...string) {
	t.Helper()
	if err := b.Subscribe(context.Background(), channels...); err != nil {
		t.Fatalf("subscribe %v: %v", channels, err)
	}
}

func mustPublish(t *testing.T, b realtime.Broker, m realtime.Message) {
	t.Helper()
	if err := b.Publish(context.Background(), m); err != nil {
		t.Fatalf("publish on %s: %v", m.Channel, err)
	}
}

// parallel runs fn(0..n-1) in n goroutines and fails the test with the first error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs <- fn(i) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
