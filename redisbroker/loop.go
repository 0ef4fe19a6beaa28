package redisbroker

// The Redis broker's connection loop: sessions, their reader and writer, reconnection.

import (
	"circly/realtime"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// run keeps a session alive until ctx ends: when one ends it waits a backoff and starts the
// next, logging the loss once and the recovery once.
func (b *Broker) run(ctx context.Context, s *session) {
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
		b.reloadSlots(ctx)
		s = b.newSession(downSince)
	}
}

// runSession runs s's reader and writer until s ends or ctx does, then tears it down: nothing
// of it is left running when it returns.
func (b *Broker) runSession(ctx context.Context, s *session) {
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if err := b.bindShard(sctx, s); err != nil {
		s.end(err)
	} else {
		wg.Add(2)
		go func() { defer wg.Done(); s.end(b.read(sctx, s)) }()
		go func() { defer wg.Done(); s.end(b.write(sctx, s)) }()
	}
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

// bindShard subscribes a shard's marker before anything else reads or writes the connection:
// go-redis dials a cluster pub/sub connection on the node owning the first channel named, and
// on a random node when none is (a Receive or a PING first).
func (b *Broker) bindShard(ctx context.Context, s *session) error {
	if !b.sharded {
		return nil
	}
	return b.op(ctx, func(ctx context.Context) error { return s.ps.SSubscribe(ctx, b.opts.Prefix+shardMarker) })
}

// read delivers what the connection brings until it fails. Any error ends the session: go-redis
// would reconnect quietly on the next call, and then nobody would re-read missed state.
func (b *Broker) read(ctx context.Context, s *session) error {
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
		case *redis.Subscription:
			// Redis drops a shard's subscribers when its slot moves or its master changes:
			// the marker, never unsubscribed by us, says so.
			if m.Kind == "sunsubscribe" && m.Channel == b.opts.Prefix+shardMarker {
				return errors.New("shard's slot moved to another node")
			}
		}
	}
}

func (b *Broker) deliver(rm *redis.Message) {
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
	var m realtime.Message
	if err := json.Unmarshal([]byte(rm.Payload), &m); err != nil {
		b.log.Warn("realtime redis message undecodable; dropped", zap.String("channel", ch), zap.Error(err))
		return
	}
	m.Channel = ch // Redis's channel is authoritative
	h.HandleMessage(m)
}

// recovered runs once per session, when Redis has taken its full re-subscription.
func (b *Broker) recovered(s *session) {
	if s.downSince.IsZero() {
		return // the first connection: nothing was missed
	}
	b.mu.RLock()
	h, n := b.h, len(b.desired)
	b.mu.RUnlock()
	b.log.Info("realtime redis link restored",
		zap.Duration("down", time.Since(s.downSince).Round(time.Millisecond)), zap.Int("channels", n))
	h.HandleReconnect()
}

// write subscribes everything wanted, then sends each batch of changes and keeps the link
// checked with pings until the session ends.
func (b *Broker) write(ctx context.Context, s *session) error {
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
func (b *Broker) flush(ctx context.Context, s *session, all bool) error {
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

	subscribe, unsubscribe := s.ps.Subscribe, s.ps.Unsubscribe
	if b.sharded {
		subscribe, unsubscribe = s.ps.SSubscribe, s.ps.SUnsubscribe
	}
	if err := b.send(ctx, subscribe, sub); err != nil {
		wait.release()
		return err
	}
	if err := b.send(ctx, unsubscribe, unsub); err != nil {
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
func (b *Broker) send(ctx context.Context, cmd func(context.Context, ...string) error, channels []string) error {
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
func (b *Broker) op(ctx context.Context, fn func(context.Context) error) error {
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
