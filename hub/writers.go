package hub

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// writerPool writes the connections that have frames queued with at most max goroutines at
// a time, instead of one goroutine per connection. A tally to 3,000 watchers used to make
// 3,000 goroutines runnable at once; a vote's HTTP handler, woken by its request, then waited
// behind all of them in the scheduler's queue. With a few writers the run queue stays short.
//
// A connection is written one queued batch at a time and then goes to the back of the line,
// so a busy connection cannot hold a writer. A write that blocks (a client that does not
// read, until the sweep cuts it after WriteTimeout) would hold one: watch lets such a writer
// go after stallAfter (unstick) and starts another in its place, so the others' frames wait
// at most about 1.5 × stallAfter for a stuck client.
type writerPool struct {
	max        int
	stallAfter time.Duration

	mu      sync.Mutex
	ready   []*conn // connections waiting for a writer, oldest from head
	head    int
	workers map[*writer]bool // writers counted against max (released ones are not)
}

// writer is one writing goroutine.
type writer struct {
	since    atomic.Int64 // unix nanos when its current batch started, 0 between batches
	released atomic.Bool  // let go by unstick: ends after its batch, no longer counted
}

func newWriterPool(limit int, stallAfter time.Duration) *writerPool {
	return &writerPool{max: limit, stallAfter: stallAfter, workers: map[*writer]bool{}}
}

// start queues c, which has frames and no writer (conn.writing was false; c.mu may be held:
// the pool's lock is taken after a connection's, never before).
func (p *writerPool) start(c *conn) {
	p.mu.Lock()
	p.ready = append(p.ready, c)
	var w *writer
	if len(p.workers) < p.max {
		w = &writer{}
		p.workers[w] = true
	}
	p.mu.Unlock()
	if w != nil {
		go p.work(w)
	}
}

// next takes the oldest waiting connection; nil (and the writer no longer counted) when
// none waits, in one step so that start never finds a full pool that is about to end.
func (p *writerPool) next(w *writer) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head == len(p.ready) {
		p.ready, p.head = p.ready[:0], 0
		if !w.released.Load() {
			delete(p.workers, w)
		}
		return nil
	}
	c := p.ready[p.head]
	p.ready[p.head] = nil
	p.head++
	if p.head >= 1024 && p.head*2 >= len(p.ready) {
		n := copy(p.ready, p.ready[p.head:])
		clear(p.ready[n:])
		p.ready, p.head = p.ready[:n], 0
	}
	return c
}

func (p *writerPool) work(w *writer) {
	for {
		c := p.next(w)
		if c == nil {
			return
		}
		w.since.Store(time.Now().UnixNano())
		more := c.writeBatch()
		w.since.Store(0)
		if more {
			p.requeue(c)
		}
		if w.released.Load() {
			return
		}
	}
}

// requeue puts c, still marked writing, at the back of the line.
func (p *writerPool) requeue(c *conn) { p.start(c) }

// watch calls unstick every stallAfter/2 for the hub's life.
func (p *writerPool) watch(ctx context.Context) {
	tick := time.NewTicker(p.stallAfter / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			p.unstick(now)
		}
	}
}

// unstick lets go of writers whose batch has run longer than stallAfter (a blocked write) and
// starts replacements for waiting connections.
func (p *writerPool) unstick(now time.Time) {
	limit := now.Add(-p.stallAfter).UnixNano()
	var spawn []*writer
	p.mu.Lock()
	for w := range p.workers {
		if s := w.since.Load(); s != 0 && s < limit {
			w.released.Store(true)
			delete(p.workers, w)
		}
	}
	for len(p.workers) < p.max && len(p.ready)-p.head > len(spawn) {
		w := &writer{}
		p.workers[w] = true
		spawn = append(spawn, w)
	}
	p.mu.Unlock()
	for _, w := range spawn {
		go p.work(w)
	}
}

// writerStall is how long a batch may write before its writer is let go: longer than a healthy
// batch (a few frames to a socket with room; with the CPU short, a few of the scheduler's 10 ms
// slices), far shorter than WriteTimeout. With one writer on 2 cores (Limits.Writers) a client
// that stopped reading holds every other connection's frames until then, and at 200 ms a
// circle's fast watcher saw 128 events pile up and was cut as a slow consumer
// (TestWSSlowClientCutOff). Letting a healthy writer go early costs only a goroutine for a
// moment.
const writerStall = 30 * time.Millisecond
