package hub

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"circly/frames"
	"circly/realtime"

	"go.uber.org/zap"
)

// Session is what the server knows about a connection when it hands it to the hub.
type Session struct {
	// UserID is the user authenticated by the upgrade request's Bearer header; empty means
	// the first frame must be `auth` (browsers).
	UserID string
	// Release frees the slot Admit reserved (nil when the user was not admitted yet: the
	// hub admits after first-frame auth).
	Release func()
	// Authenticate checks the token of a first `auth` frame (used when UserID is empty).
	Authenticate func(ctx context.Context, token string) (userID string, err error)
	// Channels are subscribed right after `ready`, as if the client had asked (the
	// /v1/polls/{id}/live endpoint passes poll:<id>); their answers carry no id.
	Channels []string
	// CompactTally: the client asked for the compact tally form (frames.FormCompact): poll
	// snapshots carry the option ids once, tallies and final results only the counts.
	CompactTally bool
}

// Serve runs one connection until it ends, in the caller's goroutine (the HTTP handler's,
// which the upgrade keeps anyway): it reads and answers client frames; writes happen in a
// writer goroutine that exists only while frames are queued.
func (h *Hub) Serve(ctx context.Context, t Transport, s Session) {
	if s.Release != nil {
		defer s.Release()
	}
	userID := s.UserID
	if userID == "" {
		var ok bool
		if userID, ok = h.firstFrameAuth(ctx, t, s.Authenticate); !ok {
			return
		}
		release, err := h.Admit(userID)
		if err != nil {
			code, reason := ClosePolicy, "too many connections"
			switch {
			case errors.Is(err, ErrDraining):
				code, reason = CloseGoingAway, "shutdown"
			case errors.Is(err, ErrAccountGone):
				code, reason = CloseUnauthorized, "account deleted"
			}
			_ = t.Close(code, reason)
			return
		}
		defer release()
	}
	c := newConn(h, t, userID, s.CompactTally)
	if err := h.register(c); err != nil {
		if errors.Is(err, ErrAccountGone) {
			_ = t.Close(CloseUnauthorized, "account deleted")
			return
		}
		_ = t.Write(ctx, frames.Reconnect)
		_ = t.Close(CloseGoingAway, "shutdown")
		return
	}
	defer h.unregister(c)
	c.send(frames.Ready(userID))
	if len(s.Channels) > 0 {
		offStack(func() {
			for _, ch := range s.Channels {
				h.subscribe(ctx, c, frames.Client{Type: frames.TypeSubscribe, Channel: ch})
			}
		})
	}
	for {
		data, err := t.Read(ctx)
		if err != nil {
			c.abandon() // the transport has already ended; stop the writer
			return
		}
		offStack(func() { h.handle(ctx, c, data) })
	}
}

// handle answers one client frame.
func (h *Hub) handle(ctx context.Context, c *conn, data []byte) {
	f, ferr := frames.Parse(data)
	if ferr != nil {
		h.refuse(c, f.ID, ferr)
		return
	}
	switch f.Type {
	case frames.TypeSubscribe:
		h.subscribe(ctx, c, f)
	case frames.TypeUnsubscribe:
		h.unsubscribe(c, f)
	case frames.TypePing:
		c.send(frames.Pong(f.ID))
	case frames.TypeAuth:
		h.refuse(c, f.ID, &frames.Error{Code: frames.CodeInvalidFormat, Message: "already authenticated"})
	}
}

// offStack runs fn on a short-lived goroutine and waits for it. The reader goroutine lives as
// long as its connection, and a deep call on it (a database read, JSON decoding) would leave
// its stack grown for good: the runtime halves a stack only while under a quarter of it is in
// use, and an idle reader needs more than that of 4 KiB. Measured in docs/benchmarks.md.
func offStack(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// firstFrameAuth waits AuthTimeout for an `auth` frame with a good token; anything else
// closes 4001.
func (h *Hub) firstFrameAuth(ctx context.Context, t Transport, authenticate func(context.Context, string) (string, error)) (string, bool) {
	// A timer closes 4001 rather than a read deadline: an expired read context makes the
	// transport drop the connection without a close frame.
	timer := time.AfterFunc(h.lim.AuthTimeout, func() { _ = t.Close(CloseUnauthorized, "authenticate within 10 s") })
	data, err := t.Read(ctx)
	if !timer.Stop() {
		return "", false
	}
	if err != nil {
		_ = t.Close(CloseUnauthorized, "authenticate first")
		return "", false
	}
	var userID, reason string
	offStack(func() {
		f, ferr := frames.Parse(data)
		if ferr != nil || f.Type != frames.TypeAuth || authenticate == nil {
			reason = "the first frame must be auth"
			return
		}
		actx, cancel := context.WithTimeout(ctx, h.lim.SnapshotTimeout)
		defer cancel()
		userID, err = authenticate(actx, f.Token)
	})
	if reason != "" {
		_ = t.Close(CloseUnauthorized, reason)
		return "", false
	}
	if errors.Is(err, frames.ErrUnavailable) {
		h.log.Warn("live: first-frame auth failed: database unavailable")
		_ = t.Close(CloseTryLater, "database unavailable; try again")
		return "", false
	}
	if err != nil || userID == "" {
		_ = t.Close(CloseUnauthorized, "invalid token")
		return "", false
	}
	return userID, true
}

// refuse sends an error frame; the MaxErrors-th closes the connection with 1008. Only the
// client's mistakes count: a server failure (an overloaded database timing out a snapshot, say)
// must not cut off a client that did nothing wrong.
func (h *Hub) refuse(c *conn, id []byte, e *frames.Error) {
	if e.Code == frames.CodeInternal || e.Code == frames.CodeUnavailable {
		c.send(frames.Refusal(id, e))
		return
	}
	c.errors++
	switch {
	case c.errors > h.lim.MaxErrors:
		// closing already
	case c.errors == h.lim.MaxErrors:
		h.m.Dropped("too_many_errors")
		c.closeAfter(frames.Refusal(id, e), ClosePolicy, "too many errors")
	default:
		c.send(frames.Refusal(id, e))
	}
}

// subscribe authorizes, registers the watcher, reads the snapshot (both may come from the
// caches in cache.go) and queues `subscribed`.
// Messages that arrive between registration and the snapshot are held by the subscription and
// follow the `subscribed` frame, newer versions only.
func (h *Hub) subscribe(ctx context.Context, c *conn, f frames.Client) {
	if !validChannel(f.Channel) {
		h.refuse(c, f.ID, &frames.Error{Code: frames.CodeInvalidChannel, Message: "channels are poll:<uuid>, circle:<uuid> or user:<uuid>"})
		return
	}
	if c.hasSub(f.Channel) {
		// Already subscribed: answer again with a fresh snapshot would reorder versions; the
		// subscription stands, so say so.
		c.send(frames.Subscribed(f.ID, f.Channel, nil))
		return
	}
	gen := c.generation()
	actx, cancel := context.WithTimeout(ctx, h.lim.SnapshotTimeout)
	defer cancel()
	circleID, err := h.authorize(actx, c.userID, f.Channel)
	if err != nil {
		h.refuse(c, f.ID, h.asFrameError(err, f.Channel))
		return
	}
	s, why := c.addSub(f.Channel, circleID, gen)
	switch why {
	case "dup":
		c.send(frames.Subscribed(f.ID, f.Channel, nil))
		return
	case "full":
		h.refuse(c, f.ID, &frames.Error{Code: frames.CodeTooManyChannels, Message: "at most 100 channels per connection"})
		return
	case "removed":
		h.refuse(c, f.ID, &frames.Error{Code: frames.CodeNotCircleMember, Message: "you are no longer a member of this circle"})
		return
	}
	ch, err := h.watch(c, s)
	if err != nil {
		c.dropSub(f.Channel)
		h.unwatch(c, f.Channel)
		h.refuse(c, f.ID, h.asFrameError(err, f.Channel))
		return
	}
	snap, err := h.snapshot(actx, ch)
	if err != nil {
		if c.dropSub(f.Channel) {
			h.unwatch(c, f.Channel)
		}
		h.refuse(c, f.ID, h.asFrameError(err, f.Channel))
		return
	}
	data := snap.Data
	if c.compact {
		data = snap.CompactData()
	}
	c.activate(s, frames.Subscribed(f.ID, f.Channel, data), snap.Version)
}

func (h *Hub) unsubscribe(c *conn, f frames.Client) {
	if c.dropSub(f.Channel) {
		h.unwatch(c, f.Channel)
	}
	// Unsubscribing a channel one does not hold is answered the same way: the end state is
	// what the client asked for.
	c.send(frames.Unsubscribed(f.ID, f.Channel, ""))
}

// asFrameError maps a refusal to its frame; anything unexpected is logged and hidden.
func (h *Hub) asFrameError(err error, channel string) *frames.Error {
	var fe *frames.Error
	if errors.As(err, &fe) {
		return fe
	}
	if errors.Is(err, frames.ErrUnavailable) {
		h.log.Warn("live: subscribe failed: database unavailable", zap.String("channel", channel), zap.Error(err))
		return errUnavailableFrame
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// Overload, not a defect: a storm of such lines at ERROR would bury real ones.
		h.log.Warn("live: subscribe timed out", zap.String("channel", channel), zap.Error(err))
	} else {
		h.log.Error("live: subscribe failed", zap.String("channel", channel), zap.Error(err))
	}
	return &frames.Error{Code: frames.CodeInternal, Message: "could not subscribe; try again"}
}

var errUnavailableFrame = &frames.Error{Code: frames.CodeUnavailable, Message: "the service cannot reach its database; subscribe again in a few seconds"}

func validChannel(ch string) bool {
	if len(ch) > 64 {
		return false
	}
	_, id, ok := realtime.SplitChannel(ch)
	return ok && isUUID(id)
}

// isUUID accepts the canonical 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if ('0' > c || c > '9') && ('a' > c || c > 'f') && ('A' > c || c > 'F') {
				return false
			}
		}
	}
	return true
}

// sweep runs once a second for the hub's life: it starts due pings and cuts connections
// whose write has hung past WriteTimeout. One loop for all connections instead of timers per
// connection keeps an idle connection small.
func (h *Hub) sweep() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var conns []*conn
	for {
		select {
		case <-h.ctx.Done():
			return
		case now := <-tick.C:
			h.gone.Prune(now)
			conns = conns[:0]
			h.mu.RLock()
			for c := range h.conns {
				conns = append(conns, c)
			}
			h.mu.RUnlock()
			n := now.UnixNano()
			for _, c := range conns {
				if ws := c.writeStart.Load(); ws != 0 && time.Duration(n-ws) > h.lim.WriteTimeout {
					c.close(CloseSlowConsumer, "write timeout", "write_timeout")
					continue
				}
				h.checkPing(c, n)
			}
		}
	}
}

// checkPing, from the sweep: a connection whose ping is out is fine once a pong has arrived
// since, and is closed 1008 when none has within PongTimeout; one whose next ping is due gets
// it queued.
func (h *Hub) checkPing(c *conn, now int64) {
	if c.pingSent != 0 {
		switch {
		case c.t.Pongs() != c.pongsBefore:
			c.pingSent, c.nextPing = 0, now+int64(h.lim.PingInterval)
		case time.Duration(now-c.pingSent) > h.lim.PongTimeout:
			c.close(ClosePolicy, "no pong", "no_pong")
		}
		return
	}
	if c.nextPing <= now {
		c.pingSent, c.pongsBefore = now, c.t.Pongs()
		c.queuePing()
	}
}

// Drain ends every connection for shutdown: each gets `{"type":"reconnect"}` then close 1001,
// at a random moment within window so that clients do not all come back at once. New
// connections are refused from the start. It returns when all are gone or ctx ends.
func (h *Hub) Drain(ctx context.Context, window time.Duration) {
	h.mu.Lock()
	h.closing = true
	done := make(chan struct{})
	if len(h.conns) == 0 {
		close(done)
	} else {
		h.done = done
	}
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	h.log.Info("live: draining connections", zap.Int("connections", len(conns)), zap.Duration("window", window))
	for _, c := range conns {
		var d time.Duration
		if window > 0 {
			d = rand.N(window)
		}
		time.AfterFunc(d, func() { c.closeAfter(frames.Reconnect, CloseGoingAway, "shutdown") })
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Close stops the hub's background work; call it after Drain.
func (h *Hub) Close() { h.cancel() }
