// Package monitor watches Circly replicas from outside: it polls each one's /health/detailed
// and alerts (a Slack-compatible webhook, e-mail) when a replica goes down, degrades or
// recovers. It imports nothing of the service, only what a replica answers over HTTP.
package monitor

// State is a replica's health as the monitor sees it. Higher is worse.
type State int

const (
	Unknown  State = iota // not checked yet
	Healthy               // 200 from /health/detailed
	Degraded              // answers, but reports a failing dependency
	Down                  // unreachable, timed out, draining, or any other answer
)

func (s State) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Degraded:
		return "degraded"
	case Down:
		return "down"
	default:
		return "unknown"
	}
}

// Kind is what an alert announces.
type Kind string

const (
	KindDown      Kind = "down"
	KindDegraded  Kind = "degraded"
	KindRecovered Kind = "recovered"
)

// Tracker is the state machine of one replica: it turns observations into alerts. A worse
// state counts at once (an operator wants to know now); a better one only once it held for
// stable observations in a row, so a flapping replica yields one "down" and, when it settles,
// one "recovered" instead of an alert per check. Nothing repeats while the state holds.
// A Tracker is used by one goroutine.
type Tracker struct {
	stable  int
	state   State // the state alerts were last sent for (Unknown at first)
	pending State // a better state being confirmed
	seen    int   // observations of pending in a row
}

// NewTracker returns a tracker that needs stable (at least 1) checks in a row to believe a
// replica got better.
func NewTracker(stable int) *Tracker {
	return &Tracker{stable: max(stable, 1)}
}

// State is the state the tracker has settled on.
func (t *Tracker) State() State { return t.state }

// Observe records one check and says which alert, if any, it calls for.
func (t *Tracker) Observe(s State) (Kind, bool) {
	switch {
	case s == t.state:
		t.pending, t.seen = Unknown, 0
		return "", false
	case t.state == Unknown:
		// The first check: a healthy replica is no news, a sick one is.
		return t.settle(s)
	case s > t.state:
		return t.settle(s)
	}
	if s != t.pending {
		t.pending, t.seen = s, 0
	}
	t.seen++
	if t.seen < t.stable {
		return "", false
	}
	return t.settle(s)
}

func (t *Tracker) settle(s State) (Kind, bool) {
	was := t.state
	t.state, t.pending, t.seen = s, Unknown, 0
	switch {
	case s == Down:
		return KindDown, true
	case s == Degraded:
		return KindDegraded, true
	case was != Unknown:
		return KindRecovered, true
	}
	return "", false
}
