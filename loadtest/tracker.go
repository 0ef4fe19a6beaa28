package loadtest

import (
	"sync/atomic"
	"time"
)

// Tracker joins votes to the tally frames they cause. A vote's answer names the tally version
// its release produced; with TALLY_RELEASE_BATCH=1 every vote is exactly one release, so version
// v of a poll belongs to exactly one vote. The voter stores that vote's send time under (poll,
// v); a watcher that comes to hold version V, having held P, has received versions P+1…V at that
// moment (a tally is state: the server may skip versions, and the newer one carries them). The
// latency of each is the receive time minus that vote's send time. A frame can beat the vote's
// HTTP answer to the generator, so a version whose send time is not known yet is kept aside by
// the watcher and settled at the end.
type Tracker struct {
	start time.Time
	index map[string]int // poll id → poll index; read-only after setup
	ids   []string
	sent  [][]atomic.Int64 // [poll][version] send time of the vote (ns since start, +1 so 0 = unknown)
	final []atomic.Int64   // [poll] highest version any vote answer reported
	votes []atomic.Int64   // [poll] votes accepted

	Latency     Histogram // vote sent → watcher holds its version, per (vote, watcher)
	VoteRTT     Histogram // REST vote round trip
	Convergence Histogram // last vote of a poll sent → watcher holds the final version
	Frames      atomic.Int64
	Snapshots   atomic.Int64
	Bytes       atomic.Int64 // payload bytes of the tally frames counted in Frames
}

// NewTracker is a tracker for polls whose versions go up to maxVersion (the number of ballots a
// poll can take).
func NewTracker(pollIDs []string, maxVersion int) *Tracker {
	t := &Tracker{start: time.Now(), index: make(map[string]int, len(pollIDs)), ids: pollIDs,
		sent: make([][]atomic.Int64, len(pollIDs)), final: make([]atomic.Int64, len(pollIDs)),
		votes: make([]atomic.Int64, len(pollIDs))}
	for i, id := range pollIDs {
		t.index[id] = i
		t.sent[i] = make([]atomic.Int64, maxVersion+2)
	}
	return t
}

// Now is the tracker's clock: monotonic ns since the tracker was made.
func (t *Tracker) Now() int64 { return int64(time.Since(t.start)) }

// Poll is the index of a poll id, or -1.
func (t *Tracker) Poll(id []byte) int {
	if i, ok := t.index[string(id)]; ok {
		return i
	}
	return -1
}

// VoteDone records an accepted vote sent at sentAt whose answer reported version v.
func (t *Tracker) VoteDone(poll int, v int64, sentAt int64) {
	t.VoteRTT.Record(time.Duration(t.Now() - sentAt))
	t.votes[poll].Add(1)
	if v >= 0 && v < int64(len(t.sent[poll])) {
		t.sent[poll][v].Store(sentAt + 1)
	}
	for {
		f := t.final[poll].Load()
		if v <= f || t.final[poll].CompareAndSwap(f, v) {
			return
		}
	}
}

// sentAt is the send time of the vote that made version v of poll, or -1 when not known (yet).
func (t *Tracker) sentAt(poll int, v int64) int64 {
	if v < 0 || v >= int64(len(t.sent[poll])) {
		return -1
	}
	return t.sent[poll][v].Load() - 1
}

// Final is the highest version reported for a poll.
func (t *Tracker) Final(poll int) int64 { return t.final[poll].Load() }

// Votes is the number of votes accepted on a poll.
func (t *Tracker) Votes(poll int) int64 { return t.votes[poll].Load() }

// pending is a version a watcher received before its vote's send time was known.
type pending struct {
	poll int32
	v    int32
	at   int64
}

// held is one watcher's state on one poll.
type held struct {
	version int64 // -1 until subscribed
	at      int64 // when it was reached (tracker clock)
}

// advance moves a watcher's state on poll to version v received at now, recording latencies
// for every version it did not hold before. measure is false for the first snapshot (its
// versions were cast before the watcher existed).
func (t *Tracker) advance(h *held, poll int, v, now int64, measure bool, late *[]pending) {
	if v <= h.version {
		return
	}
	if measure && h.version >= 0 {
		for x := h.version + 1; x <= v; x++ {
			if s := t.sentAt(poll, x); s >= 0 {
				t.Latency.Record(time.Duration(now - s))
			} else {
				*late = append(*late, pending{poll: int32(poll), v: int32(x), at: now})
			}
		}
	}
	h.version, h.at = v, now
}

// settle records the latencies kept aside; it returns how many had no vote at all (a version
// that no vote answer reported: a failed or timed-out vote whose release still went out).
func (t *Tracker) settle(late []pending) (orphans int) {
	for _, p := range late {
		if s := t.sentAt(int(p.poll), int64(p.v)); s >= 0 {
			t.Latency.Record(time.Duration(p.at - s))
		} else {
			orphans++
		}
	}
	return orphans
}
