// Package redisbroker is the distributed mode's realtime.Broker: Redis pub/sub between replicas,
// over one pub/sub connection per replica that is watched with pings and re-subscribed after a loss.
package redisbroker

import (
	"circly/realtime"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

var _ realtime.Broker = (*Broker)(nil)

// Options tunes a Broker. The zero value is usable.
type Options struct {
	// Prefix is put before every channel name on Redis ("circly:" makes "circly:poll:…"), so
	// deployments and test runs can share one Redis without hearing each other.
	Prefix string
	// Logger receives link loss and recovery. Nil means no logs.
	Logger *zap.Logger
	// PingInterval is how long the link may stay silent before it is pinged. Default 1s.
	PingInterval time.Duration
	// PingTimeout is how long the link may stay silent before it is declared lost, even though
	// TCP reports nothing (a dropped route, a frozen server). It also bounds each write and the
	// first connection in Start. Default 3s.
	PingTimeout time.Duration
	// MaxBackoff caps the wait between reconnection attempts. Default 2s.
	MaxBackoff time.Duration
}

const (
	defaultPingInterval = time.Second
	defaultPingTimeout  = 3 * time.Second
	defaultMaxBackoff   = 2 * time.Second
	minBackoff          = 100 * time.Millisecond
	// subscribeChunk bounds the channels named in one SUBSCRIBE so that re-subscribing tens of
	// thousands of channels after a reconnect is a few large writes, not one huge one.
	subscribeChunk = 1000
	// stillDownEvery spaces the warnings repeated while Redis stays unreachable.
	stillDownEvery = 30 * time.Second
)

// Broker is the distributed mode's broker: Redis pub/sub between replicas.
//
// It owns one pub/sub connection for its whole life. Subscribe and Unsubscribe only change a
// set of wanted channels; one writer goroutine sends the difference to Redis in batches, so a
// storm of thousands of calls costs a few commands. A PING after each batch is the barrier that
// tells Subscribe when Redis has taken its channels. The connection is watched with pings: when
// it fails or goes silent it is dropped, a new one re-subscribes every wanted channel and the
// handler's HandleReconnect runs once.
//
// The handler is called from the goroutine that reads the connection, which also reads the
// replies Subscribe waits for: a Handler method must hand off and return, and must not call
// Subscribe itself (Unsubscribe and Publish are fine).
type Broker struct {
	client  redis.UniversalClient
	sharded bool // SSUBSCRIBE/SPUBLISH on one shard of a cluster (see cluster.go)
	opts    Options
	log     *zap.Logger

	mu        sync.RWMutex
	h         realtime.Handler
	desired   map[string]struct{} // channels the hub wants, without the prefix
	dirty     map[string]struct{} // changed in desired since the live session last flushed
	next      *barrier            // released by the next flush: what Subscribe callers wait on
	sess      *session            // the session that takes Subscribe requests; nil when down
	started   bool
	closed    bool
	cancel    context.CancelFunc
	loopEnded chan struct{}

	kick   chan struct{} // wakes the writer: dirty or next has something
	tokens atomic.Uint64 // PING payloads that identify barriers
}

// New returns a broker publishing and subscribing through client. The client stays
// the caller's: Close does not close it.
func New(client *redis.Client, opts Options) *Broker {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = defaultPingInterval
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = defaultPingTimeout
	}
	if opts.PingTimeout < opts.PingInterval {
		opts.PingTimeout = 2 * opts.PingInterval
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = defaultMaxBackoff
	}
	return &Broker{
		client:    client,
		opts:      opts,
		log:       opts.Logger.Named("realtime"),
		desired:   make(map[string]struct{}),
		dirty:     make(map[string]struct{}),
		loopEnded: make(chan struct{}),
		kick:      make(chan struct{}, 1),
	}
}

// Start implements Broker. It returns once the first connection is up and every channel
// subscribed so far is taken, or with an error when Redis does not answer within PingTimeout.
// Delivery then runs until ctx ends or Close is called; either way the broker is closed after.
func (b *Broker) Start(ctx context.Context, h realtime.Handler) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return realtime.ErrClosed
	}
	if b.started {
		b.mu.Unlock()
		return errors.New("realtime: broker already started")
	}
	loopCtx, cancel := context.WithCancel(ctx)
	b.h, b.started, b.cancel = h, true, cancel
	b.mu.Unlock()

	first := b.newSession(time.Time{})
	go b.run(loopCtx, first)

	timer := time.NewTimer(b.opts.PingTimeout)
	defer timer.Stop()
	select {
	case <-first.ready:
		b.log.Info("realtime redis broker connected", zap.String("prefix", b.opts.Prefix))
		return nil
	case <-first.ended:
		err := first.cause()
		_ = b.Close()
		return fmt.Errorf("realtime: connect to redis: %w", err)
	case <-timer.C:
		_ = b.Close()
		return fmt.Errorf("realtime: connect to redis: no answer within %s", b.opts.PingTimeout)
	case <-ctx.Done():
		_ = b.Close()
		return ctx.Err()
	}
}

// Publish implements Broker: the message is encoded once and published on prefix+channel.
func (b *Broker) Publish(ctx context.Context, m realtime.Message) error {
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return realtime.ErrClosed
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("realtime: encode message: %w", err)
	}
	publish := b.client.Publish
	if b.sharded {
		publish = b.client.SPublish
	}
	if err := publish(ctx, b.opts.Prefix+m.Channel, payload).Err(); err != nil {
		return fmt.Errorf("realtime: publish: %w", err)
	}
	return nil
}

// Subscribe implements Broker. The channels are wanted from the call on: they are part of
// every re-subscription after a reconnect. While the link is up it returns once Redis has
// taken them, so a publication that follows is delivered; while the link is down it returns
// at once (the recovery subscribes them and calls HandleReconnect). When ctx ends first it
// returns ctx's error and the channels stay wanted: Unsubscribe them if they are not.
func (b *Broker) Subscribe(ctx context.Context, channels ...string) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return realtime.ErrClosed
	}
	for _, ch := range channels {
		b.desired[ch] = struct{}{}
	}
	if b.sess == nil { // down or not started: the next session subscribes every wanted channel
		b.mu.Unlock()
		return nil
	}
	for _, ch := range channels {
		b.dirty[ch] = struct{}{}
	}
	if b.next == nil {
		b.next = newBarrier()
	}
	wait := b.next
	b.mu.Unlock()
	b.wake()

	select {
	case <-wait.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unsubscribe implements Broker. Delivery on the channels stops at once (messages already on
// the way are dropped here); Redis is told in the next batch, without waiting for it.
func (b *Broker) Unsubscribe(_ context.Context, channels ...string) error {
	b.mu.Lock()
	for _, ch := range channels {
		delete(b.desired, ch)
	}
	live := b.sess != nil && !b.closed
	if live {
		for _, ch := range channels {
			b.dirty[ch] = struct{}{}
		}
	}
	b.mu.Unlock()
	if live {
		b.wake()
	}
	return nil
}

// Close implements Broker. It stops delivery, closes the pub/sub connection and returns once
// every goroutine of the broker has ended; so does every further call.
func (b *Broker) Close() error {
	b.mu.Lock()
	b.closed = true
	started, cancel := b.started, b.cancel
	b.releaseNextLocked()
	b.mu.Unlock()
	if started {
		cancel()
		<-b.loopEnded
	}
	return nil
}

// SubscribedCount returns how many channels are wanted (for tests and diagnostics).
func (b *Broker) SubscribedCount() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.desired)
}

func (b *Broker) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// releaseNextLocked frees the Subscribe callers waiting for a flush that will not come.
func (b *Broker) releaseNextLocked() {
	if b.next != nil {
		b.next.release()
		b.next = nil
	}
}
