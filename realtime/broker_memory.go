package realtime

import (
	"context"
	"errors"
	"sync"
)

var _ Broker = (*MemoryBroker)(nil)

// MemoryBroker is the embedded mode's broker: one process, so publishing is a direct call to
// the handler when the channel is subscribed. Its link can never be lost.
type MemoryBroker struct {
	mu      sync.RWMutex
	h       Handler
	subs    map[string]struct{}
	started bool
	closed  bool
}

// NewMemoryBroker returns an empty in-memory broker.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{subs: make(map[string]struct{})} }

// ErrClosed is returned by a broker used after Close.
var ErrClosed = errors.New("realtime: broker closed")

// Start implements Broker.
func (b *MemoryBroker) Start(_ context.Context, h Handler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return errors.New("realtime: broker already started")
	}
	b.h, b.started = h, true
	return nil
}

// Publish implements Broker: the handler runs in the caller's goroutine.
func (b *MemoryBroker) Publish(_ context.Context, m Message) error {
	b.mu.RLock()
	h, closed := b.h, b.closed
	_, subscribed := b.subs[m.Channel]
	b.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if subscribed && h != nil {
		h.HandleMessage(m)
	}
	return nil
}

// Subscribe implements Broker.
func (b *MemoryBroker) Subscribe(_ context.Context, channels ...string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	for _, ch := range channels {
		b.subs[ch] = struct{}{}
	}
	return nil
}

// Unsubscribe implements Broker.
func (b *MemoryBroker) Unsubscribe(_ context.Context, channels ...string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range channels {
		delete(b.subs, ch)
	}
	return nil
}

// Close implements Broker.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.subs = map[string]struct{}{}
	return nil
}
