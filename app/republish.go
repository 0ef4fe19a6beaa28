package app

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"circly/metrics"
	"circly/realtime"

	"go.uber.org/zap"
)

// A publication that fails (Redis restarting, a pool still returning its last dial error) must
// not leave watchers on a stale tally until the next vote: the change has committed, so the
// message is queued and retried in the background. While anything is queued, new messages
// queue behind it, so events keep their order; a newer tally replaces a queued one of the same
// poll (tallies are state). The retrier runs only while the queue is non-empty.

const (
	republishMaxQueue = 10_000      // beyond it the oldest message is dropped (counted)
	republishMaxAge   = time.Minute // older messages are dropped: reconnect re-reads cover them
	republishMinWait  = 50 * time.Millisecond
	republishMaxWait  = 2 * time.Second
)

type queued struct {
	m  realtime.Message
	at time.Time
}

type republisher struct {
	mu      sync.Mutex
	queue   []queued
	running bool
	closed  bool          // Close was called: nothing new is queued
	stop    chan struct{} // closed by Close to end the retrier
	done    chan struct{} // closed when the running retrier returns
}

// enqueue adds m behind what waits and starts the retrier if it is idle.
func (s *Service) enqueue(m realtime.Message) {
	r := &s.retry
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Kind == realtime.KindTally {
		for i := range r.queue {
			q := &r.queue[i]
			if q.m.Kind == realtime.KindTally && q.m.Channel == m.Channel {
				if m.Version > q.m.Version {
					q.m = m
				}
				return
			}
		}
	}
	if r.closed {
		metrics.RealtimePublish.WithLabelValues("dropped").Inc()
		return
	}
	if len(r.queue) >= republishMaxQueue {
		r.queue = r.queue[1:]
		metrics.RealtimePublish.WithLabelValues("dropped").Inc()
	}
	r.queue = append(r.queue, queued{m: m, at: time.Now()})
	if !r.running {
		r.running = true
		if r.stop == nil {
			r.stop = make(chan struct{})
		}
		r.done = make(chan struct{})
		go s.retryLoop(r.stop, r.done)
	}
}

// Close stops the background republisher: it goes on retrying what waits until ctx ends, then
// gives up on the rest (their watchers recover by snapshot when they reconnect). Call it after
// the last publisher (the HTTP server, the jobs) has stopped and before the broker closes.
func (s *Service) Close(ctx context.Context) {
	r := &s.retry
	r.mu.Lock()
	r.closed = true
	running, done := r.running, r.done
	if r.stop == nil {
		r.stop = make(chan struct{})
	}
	stop := r.stop
	r.mu.Unlock()
	if !running {
		return
	}
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	close(stop)
	<-done
}

// busy reports whether messages wait, in which case a new one must queue behind them.
func (s *Service) busy() bool {
	s.retry.mu.Lock()
	defer s.retry.mu.Unlock()
	return s.retry.running
}

func (s *Service) retryLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	r := &s.retry
	wait := republishMinWait
	for {
		select {
		case <-time.After(wait/2 + rand.N(wait/2+1)):
		case <-stop:
			r.mu.Lock()
			left := len(r.queue)
			r.queue, r.running = nil, false
			r.mu.Unlock()
			metrics.RealtimePublish.WithLabelValues("dropped").Add(float64(left))
			s.Log.Warn("realtime: stopped with messages still unpublished; watchers recover by snapshot", zap.Int("dropped", left))
			return
		}
		sent, dropped, err := s.drain()
		if dropped > 0 {
			metrics.RealtimePublish.WithLabelValues("dropped").Add(float64(dropped))
			s.Log.Warn("realtime: gave up republishing old messages; watchers recover by snapshot", zap.Int("dropped", dropped))
		}
		if sent > 0 {
			s.Log.Info("realtime: republished messages after a failed publish", zap.Int("sent", sent))
		}
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		if err != nil {
			wait = min(wait*2, republishMaxWait)
		}
	}
}

// drain publishes queued messages in order until one fails.
func (s *Service) drain() (sent, dropped int, err error) {
	r := &s.retry
	for {
		r.mu.Lock()
		for len(r.queue) > 0 && time.Since(r.queue[0].at) > republishMaxAge {
			r.queue = r.queue[1:]
			dropped++
		}
		if len(r.queue) == 0 {
			r.mu.Unlock()
			return sent, dropped, nil
		}
		m := r.queue[0].m
		r.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = s.Broker.Publish(ctx, m)
		cancel()
		if err != nil {
			metrics.RealtimePublish.WithLabelValues("error").Inc()
			return sent, dropped, err
		}
		metrics.RealtimePublish.WithLabelValues("ok").Inc()
		sent++
		r.mu.Lock()
		// A newer tally may have replaced the head while it was being sent: keep that one.
		if len(r.queue) > 0 && r.queue[0].m.Channel == m.Channel && r.queue[0].m.Version == m.Version && r.queue[0].m.Kind == m.Kind {
			r.queue = r.queue[1:]
		}
		r.mu.Unlock()
	}
}
