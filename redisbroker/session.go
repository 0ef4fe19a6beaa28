package redisbroker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// session is one pub/sub connection of a Broker, from its first SUBSCRIBE to its failure.
// A failed session is never revived: the broker starts a new one, which re-subscribes
// everything and then reports the recovery.
type session struct {
	ps        *redis.PubSub
	downSince time.Time // zero for the first session: its readiness is no recovery

	sent     map[string]struct{} // channels SUBSCRIBEd on this connection; the writer's alone
	lastSeen atomic.Int64        // unix nanos of the last reply of any kind

	mu         sync.Mutex
	pending    map[string]*barrier // PING token → callers waiting for it
	readyToken string              // the PING closing the full re-subscription
	err        error
	readyOnce  sync.Once
	endOnce    sync.Once
	ready      chan struct{} // closed when Redis has taken the full re-subscription
	ended      chan struct{} // closed when the session failed or was stopped
}

func (b *Broker) newSession(downSince time.Time) *session {
	s := &session{
		// The connection is dialed lazily by the first command: a dead Redis surfaces as an
		// error of the session, not of the constructor.
		ps:        b.newPubSub(),
		downSince: downSince,
		sent:      make(map[string]struct{}),
		pending:   make(map[string]*barrier),
		ready:     make(chan struct{}),
		ended:     make(chan struct{}),
	}
	s.lastSeen.Store(time.Now().UnixNano())
	return s
}

func (b *Broker) newPubSub() *redis.PubSub {
	if b.sharded {
		return b.client.SSubscribe(context.Background())
	}
	return b.client.Subscribe(context.Background())
}

// await registers w (maybe nil) to be released by the reply to the PING carrying token.
// Registered before the PING is written, so the reply cannot arrive first.
func (s *session) await(token string, w *barrier, ready bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ready {
		s.readyToken = token
	}
	s.pending[token] = w
}

// resolve handles the reply to a PING and reports whether it made the session ready.
func (s *session) resolve(token string) (becameReady bool) {
	s.mu.Lock()
	w, ok := s.pending[token]
	delete(s.pending, token)
	isReady := ok && token == s.readyToken
	s.mu.Unlock()
	if !ok {
		return false // a health-check ping
	}
	w.release()
	if isReady {
		s.readyOnce.Do(func() { close(s.ready); becameReady = true })
	}
	return becameReady
}

func (s *session) wasReady() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// end records why the session stopped; the first cause wins.
func (s *session) end(err error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.ended)
	})
}

func (s *session) cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// releaseAll frees every caller still waiting on this session once it has ended.
func (s *session) releaseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for token, w := range s.pending {
		w.release()
		delete(s.pending, token)
	}
}

// barrier is what Subscribe callers wait on: released when Redis has processed their batch,
// or when that can no longer happen (the session ended, the broker closed).
type barrier struct {
	done chan struct{}
	once sync.Once
}

func newBarrier() *barrier { return &barrier{done: make(chan struct{})} }

// release is safe on a nil barrier and more than once.
func (w *barrier) release() {
	if w != nil {
		w.once.Do(func() { close(w.done) })
	}
}
