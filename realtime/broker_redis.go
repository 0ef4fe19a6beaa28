package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"circly/metrics"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

var _ Broker = (*RedisBroker)(nil)

// RedisOptions tunes a RedisBroker. The zero value is usable.
type RedisOptions struct {
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

// RedisBroker is the distributed mode's broker: Redis pub/sub between replicas.
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
type RedisBroker struct {
	client *redis.Client
	opts   RedisOptions
	log    *zap.Logger

	mu        sync.RWMutex
	h         Handler
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

// NewRedisBroker returns a broker publishing and subscribing through client. The client stays
// the caller's: Close does not close it.
func NewRedisBroker(client *redis.Client, opts RedisOptions) *RedisBroker {
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
	return &RedisBroker{
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
func (b *RedisBroker) Start(ctx context.Context, h Handler) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
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
func (b *RedisBroker) Publish(ctx context.Context, m Message) error {
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("realtime: encode message: %w", err)
	}
	if err := b.client.Publish(ctx, b.opts.Prefix+m.Channel, payload).Err(); err != nil {
		return fmt.Errorf("realtime: publish: %w", err)
	}
	return nil
}

// Subscribe implements Broker. The channels are wanted from the call on: they are part of
// every re-subscription after a reconnect. While the link is up it returns once Redis has
// taken them, so a publication that follows is delivered; while the link is down it returns
// at once (the recovery subscribes them and calls HandleReconnect). When ctx ends first it
// returns ctx's error and the channels stay wanted: Unsubscribe them if they are not.
func (b *RedisBroker) Subscribe(ctx context.Context, channels ...string) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
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
func (b *RedisBroker) Unsubscribe(_ context.Context, channels ...string) error {
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
func (b *RedisBroker) Close() error {
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
func (b *RedisBroker) SubscribedCount() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.desired)
}

func (b *RedisBroker) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// releaseNextLocked frees the Subscribe callers waiting for a flush that will not come.
func (b *RedisBroker) releaseNextLocked() {
	if b.next != nil {
		b.next.release()
		b.next = nil
	}
}

// run keeps a session alive until ctx ends: when one ends it waits a backoff and starts the
// next, logging the loss once and the recovery once.
func (b *RedisBroker) run(ctx context.Context, s *session) {
	defer close(b.loopEnded)
	defer func() { // ended by ctx: the broker is as good as closed
		b.mu.Lock()
		b.closed = true
		b.releaseNextLocked()
		b.mu.Unlock()
	}()
	backoff := minBackoff
	var downSince, lastWarn time.Time
	for {
		b.runSession(ctx, s)
		if ctx.Err() != nil {
			return
		}
		err := s.cause()
		now := time.Now()
		switch {
		case s.wasReady():
			downSince, lastWarn, backoff = now, now, minBackoff
			b.log.Warn("realtime redis link lost; reconnecting", zap.Error(err))
		case now.Sub(lastWarn) >= stillDownEvery:
			lastWarn = now
			b.log.Warn("realtime redis still unreachable",
				zap.Duration("down", now.Sub(downSince).Round(time.Millisecond)), zap.Error(err))
		default:
			b.log.Debug("realtime redis reconnect attempt failed", zap.Error(err))
		}
		if !sleepCtx(ctx, jitter(backoff)) {
			return
		}
		backoff = min(2*backoff, b.opts.MaxBackoff)
		s = b.newSession(downSince)
	}
}

// runSession runs s's reader and writer until s ends or ctx does, then tears it down: nothing
// of it is left running when it returns.
func (b *RedisBroker) runSession(ctx context.Context, s *session) {
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.end(b.read(sctx, s)) }()
	go func() { defer wg.Done(); s.end(b.write(sctx, s)) }()
	select {
	case <-s.ended:
	case <-ctx.Done():
		s.end(ctx.Err())
	}
	cancel()
	_ = s.ps.Close() // unblocks a Receive waiting on the socket
	wg.Wait()

	b.mu.Lock()
	if b.sess == s {
		b.sess = nil
		clear(b.dirty) // the next session subscribes everything wanted anyway
	}
	b.releaseNextLocked()
	b.mu.Unlock()
	s.releaseAll()
}

// read delivers what the connection brings until it fails. Any error ends the session: go-redis
// would reconnect quietly on the next call, and then nobody would re-read missed state.
func (b *RedisBroker) read(ctx context.Context, s *session) error {
	for {
		msg, err := s.ps.Receive(ctx)
		if err != nil {
			return err
		}
		s.lastSeen.Store(time.Now().UnixNano())
		switch m := msg.(type) {
		case *redis.Message:
			b.deliver(m)
		case *redis.Pong:
			if s.resolve(m.Payload) {
				b.recovered(s)
			}
		}
	}
}

func (b *RedisBroker) deliver(rm *redis.Message) {
	ch, ok := strings.CutPrefix(rm.Channel, b.opts.Prefix)
	if !ok {
		return
	}
	b.mu.RLock()
	_, wanted := b.desired[ch]
	h := b.h
	b.mu.RUnlock()
	if !wanted {
		return
	}
	var m Message
	if err := json.Unmarshal([]byte(rm.Payload), &m); err != nil {
		b.log.Warn("realtime redis message undecodable; dropped", zap.String("channel", ch), zap.Error(err))
		return
	}
	m.Channel = ch // Redis's channel is authoritative
	h.HandleMessage(m)
}

// recovered runs once per session, when Redis has taken its full re-subscription.
func (b *RedisBroker) recovered(s *session) {
	if s.downSince.IsZero() {
		return // the first connection: nothing was missed
	}
	b.mu.RLock()
	h, n := b.h, len(b.desired)
	b.mu.RUnlock()
	b.log.Info("realtime redis link restored",
		zap.Duration("down", time.Since(s.downSince).Round(time.Millisecond)), zap.Int("channels", n))
	metrics.BrokerReconnects.Inc()
	h.HandleReconnect()
}

// write subscribes everything wanted, then sends each batch of changes and keeps the link
// checked with pings until the session ends.
func (b *RedisBroker) write(ctx context.Context, s *session) error {
	if err := b.flush(ctx, s, true); err != nil {
		return err
	}
	tick := time.NewTicker(b.opts.PingInterval / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.kick:
			if err := b.flush(ctx, s, false); err != nil {
				return err
			}
		case <-tick.C:
			silent := time.Since(time.Unix(0, s.lastSeen.Load()))
			if silent > b.opts.PingTimeout {
				return fmt.Errorf("no reply from redis for %s", silent.Round(time.Millisecond))
			}
			if silent >= b.opts.PingInterval {
				if err := b.op(ctx, func(ctx context.Context) error { return s.ps.Ping(ctx, "hc") }); err != nil {
					return err
				}
			}
		}
	}
}

// flush sends what changed since the last flush (everything wanted when all is set, which also
// makes s the session Subscribe talks to), then a PING whose reply releases the waiters.
func (b *RedisBroker) flush(ctx context.Context, s *session, all bool) error {
	var sub, unsub []string
	b.mu.Lock()
	if all {
		sub = make([]string, 0, len(b.desired))
		for ch := range b.desired {
			sub = append(sub, ch)
			s.sent[ch] = struct{}{}
		}
		b.sess = s
	} else {
		if b.sess != s {
			b.mu.Unlock()
			return nil
		}
		for ch := range b.dirty {
			_, want := b.desired[ch]
			_, has := s.sent[ch]
			switch {
			case want && !has:
				sub = append(sub, ch)
				s.sent[ch] = struct{}{}
			case !want && has:
				unsub = append(unsub, ch)
				delete(s.sent, ch)
			}
		}
	}
	if len(b.dirty) > 4*subscribeChunk {
		b.dirty = make(map[string]struct{}) // let a storm's worth of keys be collected
	} else {
		clear(b.dirty)
	}
	wait := b.next
	b.next = nil
	b.mu.Unlock()

	if err := b.send(ctx, s.ps.Subscribe, sub); err != nil {
		wait.release()
		return err
	}
	if err := b.send(ctx, s.ps.Unsubscribe, unsub); err != nil {
		wait.release()
		return err
	}
	if !all && wait == nil {
		return nil
	}
	token := "b" + strconv.FormatUint(b.tokens.Add(1), 10)
	s.await(token, wait, all)
	return b.op(ctx, func(ctx context.Context) error { return s.ps.Ping(ctx, token) })
}

// send issues cmd for channels in chunks, with the prefix. Never with zero channels: an
// UNSUBSCRIBE without arguments leaves every channel.
func (b *RedisBroker) send(ctx context.Context, cmd func(context.Context, ...string) error, channels []string) error {
	for len(channels) > 0 {
		n := min(len(channels), subscribeChunk)
		names := make([]string, n)
		for i, ch := range channels[:n] {
			names[i] = b.opts.Prefix + ch
		}
		if err := b.op(ctx, func(ctx context.Context) error { return cmd(ctx, names...) }); err != nil {
			return err
		}
		channels = channels[n:]
	}
	return nil
}

// op bounds one write on the pub/sub connection (and the dial it may start) by PingTimeout.
func (b *RedisBroker) op(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.PingTimeout)
	defer cancel()
	return fn(ctx)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// jitter spreads reconnects of many replicas: d/2 to d.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}
