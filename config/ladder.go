package config

import (
	"strings"
	"time"
)

// SanctionStep is one rung of SANCTION_LADDER: a time without creating polls or joining
// circles, or (Remove, only last) the account's removal.
type SanctionStep struct {
	Duration time.Duration
	Remove   bool
}

// defaultLadder is 24 hours, 7 days, 30 days, then removal.
const defaultLadder = "24h,168h,720h,remove"

// maxLadderRungs bounds the ladder (and the metric's rung label).
const maxLadderRungs = 10

// ladder reads "24h,168h,720h,remove": 1 to 10 durations of at least a minute, optionally
// ending with "remove".
func (r *reader) ladder(name string) []SanctionStep {
	v := r.str(name, defaultLadder)
	const accepts = "expects 1 to 10 comma-separated durations of at least 1m (24h,168h,720h), optionally ending with remove"
	parts := strings.Split(v, ",")
	if len(parts) > maxLadderRungs {
		r.fail(name, v, accepts)
		return nil
	}
	out := make([]SanctionStep, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "remove" && i == len(parts)-1 {
			out = append(out, SanctionStep{Remove: true})
			continue
		}
		d, err := time.ParseDuration(p)
		if err != nil || d < time.Minute {
			r.fail(name, v, accepts)
			return nil
		}
		out = append(out, SanctionStep{Duration: d})
	}
	return out
}
