package hub

import (
	"context"
	"sync"
	"time"

	"circly/frames"
	"circly/realtime"
)

// snapCache is the newest known released tally of one poll channel, so that a subscribe needs
// no database read while this replica stays subscribed to the poll.
//
// It may be served (valid) only after a read that started once the broker subscription was
// confirmed (live) has been stored in the same epoch: every tally released after that read
// reaches HandleMessage, which keeps the cache at the highest version. A tally message alone
// never makes it valid: it may be a late delivery of an older version while a newer one went
// out before this replica subscribed.
type snapCache struct {
	poll bool // only poll channels are cached

	mu     sync.Mutex // a leaf: never held while taking Hub.mu or channel.mu
	live   bool       // the broker subscription is confirmed (channel.subscribed)
	closed bool       // poll_closed seen: this struct never caches again
	epoch  uint64     // bumped by every drop; a read that spans a drop is not stored
	valid  bool       // snap may be served
	has    bool       // snap holds a version (a stored read or a tally seen since the drop)
	snap   frames.Snapshot
	fill   *snapFill // the read in flight; other subscribers wait for it
	// options is the poll's option ids from a stored read, kept across drops: they never
	// change, and a snapshot built from a tally message needs them for its compact form.
	options []byte
}

type snapFill struct{ done chan struct{} }

func newSnapCache(channel string) snapCache {
	p, _, _ := realtime.SplitChannel(channel)
	return snapCache{poll: p == realtime.PollPrefix}
}

// setLive follows channel.subscribed (called with channel.mu held). The end of a subscription
// drops the cache: tallies published until the next one are never seen.
func (sc *snapCache) setLive(live bool) {
	if !sc.poll {
		return
	}
	sc.mu.Lock()
	if !live {
		sc.dropLocked()
	}
	sc.live = live
	sc.mu.Unlock()
}

func (sc *snapCache) drop() {
	if !sc.poll {
		return
	}
	sc.mu.Lock()
	sc.dropLocked()
	sc.mu.Unlock()
}

func (sc *snapCache) dropLocked() {
	sc.epoch++
	sc.valid, sc.has, sc.snap = false, false, frames.Snapshot{}
}

// message keeps the newest tally of the channel. dispatch calls it under Hub.mu.RLock, so
// a watcher registered later finds it in the cache and one registered earlier receives m.
func (sc *snapCache) message(m realtime.Message) {
	if !sc.poll {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch m.Kind {
	case realtime.KindFinal:
		// The snapshot now holds is_closed and comes from the store, whatever arrives later.
		sc.closed = true
		sc.dropLocked()
	case realtime.KindTally:
		if !sc.live || sc.closed || (sc.has && m.Version <= sc.snap.Version) {
			return
		}
		// A tally's data is the poll's snapshot; its compact form needs the option ids too.
		sc.snap = frames.Snapshot{Version: m.Version, Data: m.Data, OptionIDs: sc.options, Compact: m.Compact}
		sc.has = true
	}
}

// storeLocked keeps a read that started at epoch unless the cache was dropped meanwhile
// (poll_closed and the end of the subscription drop it too). A tally seen during the read may
// be newer: it stays.
func (sc *snapCache) storeLocked(s frames.Snapshot, epoch uint64) {
	if sc.epoch != epoch {
		return
	}
	if len(s.OptionIDs) > 0 {
		sc.options = s.OptionIDs
	}
	if !sc.has || s.Version > sc.snap.Version {
		sc.snap, sc.has = s, true
	}
	if sc.snap.OptionIDs == nil {
		sc.snap.OptionIDs = sc.options // a newer tally seen before the first read ended
	}
	sc.valid = true
}

// snapshot answers a subscribe: a poll from the cache, or with one read for all the
// subscribers of the channel that miss together; other channels from the SnapshotSource. ch
// must be subscribed (watch returned).
func (h *Hub) snapshot(ctx context.Context, ch *channel) (frames.Snapshot, error) {
	sc := &ch.snap
	if !sc.poll {
		return h.snapshots.Snapshot(ctx, ch.name) // circle and user channels are never cached
	}
	sc.mu.Lock()
	if sc.valid {
		s := sc.snap
		sc.mu.Unlock()
		return s, nil
	}
	f := sc.fill
	if f == nil {
		if !sc.live || sc.closed {
			sc.mu.Unlock()
			return h.snapshots.Snapshot(ctx, ch.name) // nothing to store: no one to wait for it
		}
		f = &snapFill{done: make(chan struct{})}
		sc.fill = f
		sc.mu.Unlock()
		// The leader gets its own read: tallies newer than it are held for it and follow.
		s, err := h.readSnapshot(ctx, ch)
		sc.mu.Lock()
		sc.fill = nil
		sc.mu.Unlock()
		close(f.done)
		return s, err
	}
	sc.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return frames.Snapshot{}, ctx.Err()
	}
	sc.mu.Lock()
	s, ok := sc.snap, sc.valid
	sc.mu.Unlock()
	if ok {
		// Not the leader's read: a tally newer than it may have come before this watcher did.
		return s, nil
	}
	return h.readSnapshot(ctx, ch) // the leader failed or could not store its read
}

// readSnapshot reads the snapshot and stores it if the channel is subscribed now and nothing
// drops the cache before the read ends.
func (h *Hub) readSnapshot(ctx context.Context, ch *channel) (frames.Snapshot, error) {
	sc := &ch.snap
	sc.mu.Lock()
	epoch, store := sc.epoch, sc.live && !sc.closed
	sc.mu.Unlock()
	s, err := h.snapshots.Snapshot(ctx, ch.name)
	if err == nil && store {
		sc.mu.Lock()
		sc.storeLocked(s, epoch)
		sc.mu.Unlock()
	}
	return s, err
}

// authCache remembers granted authorizations of poll and circle channels per user, so that a
// reconnecting client's subscribes need no query. Removals drop what they cover; an entry
// lives AuthTTL at most, which bounds what a missed removal can leave behind.
type authCache struct {
	ttl time.Duration

	mu      sync.Mutex
	gen     uint64 // bumped by every removal and reset: a grant read across one is not stored
	entries map[authKey]authEntry
	circles map[string]map[authKey]struct{} // circle id → its entries, for removals
}

type authKey struct{ user, channel string }

type authEntry struct {
	circle  string
	expires time.Time
}

// authCacheMax bounds the cache; it is cleared when full rather than grown.
const authCacheMax = 200_000

func newAuthCache(ttl time.Duration) authCache {
	return authCache{ttl: ttl, entries: map[authKey]authEntry{}, circles: map[string]map[authKey]struct{}{}}
}

func (a *authCache) get(k authKey) (circle string, ok bool, gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.entries[k]
	if ok && time.Now().After(e.expires) {
		a.deleteLocked(k, e.circle)
		ok = false
	}
	return e.circle, ok, a.gen
}

// put stores a grant read after gen was observed, unless a removal came meanwhile.
func (a *authCache) put(k authKey, circle string, gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen || circle == "" {
		return
	}
	if old, ok := a.entries[k]; ok {
		a.deleteLocked(k, old.circle)
	} else if len(a.entries) >= authCacheMax {
		clear(a.entries)
		clear(a.circles)
	}
	a.entries[k] = authEntry{circle: circle, expires: time.Now().Add(a.ttl)}
	set := a.circles[circle]
	if set == nil {
		set = map[authKey]struct{}{}
		a.circles[circle] = set
	}
	set[k] = struct{}{}
}

func (a *authCache) deleteLocked(k authKey, circle string) {
	delete(a.entries, k)
	if set := a.circles[circle]; set != nil {
		delete(set, k)
		if len(set) == 0 {
			delete(a.circles, circle)
		}
	}
}

// remove drops userID's grants in circleID, or everyone's when userID is "".
func (a *authCache) remove(userID, circleID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	for k := range a.circles[circleID] {
		if userID == "" || k.user == userID {
			a.deleteLocked(k, circleID)
		}
	}
}

// removeChannel drops every user's grant of one channel of circleID.
func (a *authCache) removeChannel(channel, circleID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	for k := range a.circles[circleID] {
		if k.channel == channel {
			a.deleteLocked(k, circleID)
		}
	}
}

// reset forgets every grant (removals may have been lost).
func (a *authCache) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	clear(a.entries)
	clear(a.circles)
}

// authorize asks the Authorizer unless a grant of the same question is cached.
func (h *Hub) authorize(ctx context.Context, userID, channel string) (string, error) {
	if p, _, _ := realtime.SplitChannel(channel); p != realtime.PollPrefix && p != realtime.CirclePrefix {
		return h.auth.Authorize(ctx, userID, channel) // user:<id> needs no query
	}
	k := authKey{userID, channel}
	circle, ok, gen := h.authz.get(k)
	if ok {
		return circle, nil
	}
	circle, err := h.auth.Authorize(ctx, userID, channel)
	if err == nil {
		h.authz.put(k, circle, gen)
	}
	return circle, err
}
