// Package brokertest is the suite every realtime.Broker passes (the memory broker here, the
// Redis one in redisbroker), and the helpers broker tests share.
package brokertest

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

// WaitLimit only bounds how long a broken broker can hang a test; no test measures speed.
const WaitLimit = 20 * time.Second

// Run runs every case a realtime.Broker must pass; newBroker returns a broker not yet started.
func Run(t *testing.T, newBroker func(t *testing.T) realtime.Broker) {
	ctx := context.Background()
	start := func(t *testing.T) (realtime.Broker, *Recorder) {
		t.Helper()
		b := newBroker(t)
		rec := NewRecorder()
		if err := b.Start(ctx, rec); err != nil {
			t.Fatalf("start: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b, rec
	}

	t.Run("publish reaches a subscriber intact", func(t *testing.T) {
		b, rec := start(t)
		MustSubscribe(t, b, "poll:p1", realtime.ControlChannel)
		tally := TallyMsg("poll:p1", 7)
		tally.Compact = json.RawMessage(`{"version":7,"total_votes":7,"counts":[7,0],"is_closed":false}`) // both forms travel
		removal := realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindRemoval, UserID: "u1", CircleID: "c1"}
		MustPublish(t, b, tally)
		MustPublish(t, b, removal)
		rec.WaitCount(t, "poll:p1", 1)
		rec.WaitCount(t, realtime.ControlChannel, 1)
		AssertSameMessage(t, rec.Messages("poll:p1")[0], tally)
		AssertSameMessage(t, rec.Messages(realtime.ControlChannel)[0], removal)
	})

	t.Run("nothing arrives on channels not subscribed", func(t *testing.T) {
		b, rec := start(t)
		MustSubscribe(t, b, "poll:wanted")
		MustPublish(t, b, TallyMsg("poll:other", 1))
		MustPublish(t, b, TallyMsg("poll:wanted", 1)) // published after: a sentinel
		rec.WaitCount(t, "poll:wanted", 1)
		if n := rec.Count("poll:other"); n != 0 {
			t.Fatalf("got %d messages on a channel never subscribed", n)
		}
	})

	t.Run("unsubscribe stops delivery and subscribe restores it", func(t *testing.T) {
		b, rec := start(t)
		MustSubscribe(t, b, "poll:a", "poll:b")
		MustPublish(t, b, TallyMsg("poll:a", 1))
		rec.WaitCount(t, "poll:a", 1)
		if err := b.Unsubscribe(ctx, "poll:a"); err != nil {
			t.Fatalf("unsubscribe: %v", err)
		}
		MustPublish(t, b, TallyMsg("poll:a", 2))
		MustPublish(t, b, TallyMsg("poll:b", 1))
		rec.WaitCount(t, "poll:b", 1)
		if n := rec.Count("poll:a"); n != 1 {
			t.Fatalf("poll:a got %d messages, want 1: delivery went on after Unsubscribe", n)
		}
		MustSubscribe(t, b, "poll:a")
		MustPublish(t, b, TallyMsg("poll:a", 3))
		rec.WaitCount(t, "poll:a", 2)
		if got := rec.Versions("poll:a"); !slices.Equal(got, []int{1, 3}) {
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
		MustSubscribe(t, b, channels[:n/2]...)
		Parallel(t, 32, func(g int) error {
			for i := n/2 + g; i < n; i += 32 {
				if err := b.Subscribe(ctx, channels[i]); err != nil {
					return err
				}
			}
			return nil
		})
		Parallel(t, 8, func(g int) error {
			for i := g; i < n; i += 8 {
				if err := b.Publish(ctx, TallyMsg(channels[i], i)); err != nil {
					return err
				}
			}
			return nil
		})
		rec.WaitTotal(t, n)
		for i, ch := range channels {
			if got := rec.Versions(ch); !slices.Equal(got, []int{i}) {
				t.Fatalf("%s got versions %v, want [%d]", ch, got, i)
			}
		}
	})

	t.Run("order is kept per channel", func(t *testing.T) {
		b, rec := start(t)
		const channels, perChannel = 16, 150
		for c := range channels {
			MustSubscribe(t, b, "circle:order"+strconv.Itoa(c))
		}
		Parallel(t, channels, func(c int) error {
			ch := "circle:order" + strconv.Itoa(c)
			for v := 1; v <= perChannel; v++ {
				m := realtime.Message{Channel: ch, Kind: realtime.KindEvent, Version: v, Type: "event", Event: "member_joined", Data: json.RawMessage(`{}`)}
				if err := b.Publish(ctx, m); err != nil {
					return err
				}
			}
			return nil
		})
		rec.WaitTotal(t, channels*perChannel)
		for c := range channels {
			got := rec.Versions("circle:order" + strconv.Itoa(c))
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
					_ = b.Publish(ctx, TallyMsg("poll:noise"+strconv.Itoa(rng.IntN(50)), i))
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
		Parallel(t, workers, func(g int) error {
			ch := realtime.PollChannel("worker" + strconv.Itoa(g))
			for r := range rounds {
				if err := b.Subscribe(ctx, ch); err != nil {
					return err
				}
				if err := b.Publish(ctx, TallyMsg(ch, r)); err != nil {
					return err
				}
				if err := rec.WaitCountErr(ch, r+1); err != nil {
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
			got := rec.Versions(ch)
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
			if n := rec.Count("poll:noise" + strconv.Itoa(i)); n != 0 {
				t.Fatalf("poll:noise%d delivered %d messages though never subscribed", i, n)
			}
		}
	})

	t.Run("start twice fails", func(t *testing.T) {
		b, _ := start(t)
		if err := b.Start(ctx, NewRecorder()); err == nil {
			t.Fatal("second Start succeeded")
		}
	})

	t.Run("close", func(t *testing.T) {
		b, rec := start(t)
		MustSubscribe(t, b, "poll:c")
		MustPublish(t, b, TallyMsg("poll:c", 1))
		rec.WaitCount(t, "poll:c", 1)
		if err := b.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if err := b.Publish(ctx, TallyMsg("poll:c", 2)); !errors.Is(err, realtime.ErrClosed) {
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
		if n := rec.Count("poll:c"); n != 1 {
			t.Fatalf("poll:c got %d messages, want 1", n)
		}
		if n := rec.ReconnectCount(); n != 0 {
			t.Fatalf("HandleReconnect called %d times without a link loss", n)
		}
	})
}

// Recorder is a Handler that keeps everything it is given.
type Recorder struct {
	mu         sync.Mutex
	byChannel  map[string][]realtime.Message
	total      int
	reconnects int
}

func NewRecorder() *Recorder { return &Recorder{byChannel: make(map[string][]realtime.Message)} }

func (r *Recorder) HandleMessage(m realtime.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byChannel[m.Channel] = append(r.byChannel[m.Channel], m)
	r.total++
}

func (r *Recorder) HandleReconnect() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reconnects++
}

func (r *Recorder) Messages(ch string) []realtime.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.byChannel[ch])
}

func (r *Recorder) Count(ch string) int { return len(r.Messages(ch)) }

func (r *Recorder) Versions(ch string) []int {
	var vs []int
	for _, m := range r.Messages(ch) {
		vs = append(vs, m.Version)
	}
	return vs
}

func (r *Recorder) TotalCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

func (r *Recorder) ReconnectCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reconnects
}

func (r *Recorder) WaitCount(t *testing.T, ch string, n int) {
	t.Helper()
	if err := r.WaitCountErr(ch, n); err != nil {
		t.Fatal(err)
	}
}

func (r *Recorder) WaitCountErr(ch string, n int) error {
	if !Eventually(func() bool { return r.Count(ch) >= n }) {
		return fmt.Errorf("%s: %d messages after %s, want %d", ch, r.Count(ch), WaitLimit, n)
	}
	return nil
}

func (r *Recorder) WaitTotal(t *testing.T, n int) {
	t.Helper()
	if !Eventually(func() bool { return r.TotalCount() >= n }) {
		t.Fatalf("%d messages after %s, want %d", r.TotalCount(), WaitLimit, n)
	}
}

func (r *Recorder) WaitReconnects(t *testing.T, n int) {
	t.Helper()
	if !Eventually(func() bool { return r.ReconnectCount() >= n }) {
		t.Fatalf("HandleReconnect called %d times after %s, want %d", r.ReconnectCount(), WaitLimit, n)
	}
}

func Eventually(cond func() bool) bool {
	deadline := time.Now().Add(WaitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func TallyMsg(ch string, version int) realtime.Message {
	data := fmt.Sprintf(`{"version":%d}`, version)
	return realtime.Message{Channel: ch, Kind: realtime.KindTally, Version: version, Type: "tally", Data: json.RawMessage(data)}
}

func AssertSameMessage(t *testing.T, got, want realtime.Message) {
	t.Helper()
	if got.Channel != want.Channel || got.Kind != want.Kind || got.Version != want.Version || got.Type != want.Type ||
		got.Event != want.Event || string(got.Data) != string(want.Data) || string(got.Compact) != string(want.Compact) || got.UserID != want.UserID ||
		got.CircleID != want.CircleID || got.Target != want.Target {
		t.Fatalf("got %+v (data %s, compact %s), want %+v (data %s, compact %s)", got, got.Data, got.Compact, want, want.Data, want.Compact)
	}
}

func MustSubscribe(t *testing.T, b realtime.Broker, channels ...string) {
	t.Helper()
	if err := b.Subscribe(context.Background(), channels...); err != nil {
		t.Fatalf("subscribe %v: %v", channels, err)
	}
}

func MustPublish(t *testing.T, b realtime.Broker, m realtime.Message) {
	t.Helper()
	if err := b.Publish(context.Background(), m); err != nil {
		t.Fatalf("publish on %s: %v", m.Channel, err)
	}
}

// Parallel runs fn(0..n-1) in n goroutines and fails the test with the first error.
func Parallel(t *testing.T, n int, fn func(i int) error) {
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
