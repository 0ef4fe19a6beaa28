// Package testkit holds small test doubles shared by several packages' tests: a settable clock
// for the store and a broker that records what was published.
package testkit

import (
	"context"
	"strings"
	"sync"
	"time"

	"circly/realtime"
)

// Clock is a settable time source (Store.SetClock takes its Now).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Recorder is a broker that keeps every publication (a test's view of the live messages).
type Recorder struct {
	mu   sync.Mutex
	msgs []realtime.Message
}

var _ realtime.Broker = (*Recorder)(nil)

// Start implements realtime.Broker.
func (r *Recorder) Start(context.Context, realtime.Handler) error { return nil }

// Publish records m.
func (r *Recorder) Publish(_ context.Context, m realtime.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

// Subscribe implements realtime.Broker.
func (r *Recorder) Subscribe(context.Context, ...string) error { return nil }

// Unsubscribe implements realtime.Broker.
func (r *Recorder) Unsubscribe(context.Context, ...string) error { return nil }

// Close implements realtime.Broker.
func (r *Recorder) Close() error { return nil }

// Messages returns a copy of what was published.
func (r *Recorder) Messages() []realtime.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]realtime.Message(nil), r.msgs...)
}

// Count counts messages of a kind on channels with the prefix.
func (r *Recorder) Count(kind realtime.Kind, prefix string) int {
	return r.CountEvent(kind, prefix, "")
}

// CountEvent is Count limited, when event is set, to circle events of that name.
func (r *Recorder) CountEvent(kind realtime.Kind, prefix, event string) int {
	n := 0
	for _, m := range r.Messages() {
		if m.Kind != kind || !strings.HasPrefix(m.Channel, prefix) {
			continue
		}
		if event != "" && m.Event != event {
			continue
		}
		n++
	}
	return n
}
