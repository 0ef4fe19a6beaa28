package frames

import (
	"encoding/json"
	"strconv"
)

// The compact tally form (docs/api.md, "Compact tallies"). A tally goes to every watcher on
// every release, and with a poll's option ids in it most of its bytes say what the watcher
// already knows: a connection that asks for the compact form (`tally=compact` on the upgrade)
// gets a poll's option ids once, in its `subscribed` snapshot, and then only the counts in the
// same (display) order. Connections that do not ask keep the full form unchanged.

// Tally forms a connection may ask for with the upgrade's `tally` query parameter.
const (
	FormFull    = "full"
	FormCompact = "compact"
)

// CompactTally is the data of a `tally` or `poll_closed` frame in the compact form: the counts
// in the options' display order, as listed by the snapshot's option_ids.
type CompactTally struct {
	Version    int
	TotalVotes int
	Counts     []int
	IsClosed   bool
}

// Encode writes {"version","total_votes","counts","is_closed"} by hand: it runs once per
// release, and a 50-member poll's counts are 50 small integers.
func (t CompactTally) Encode() json.RawMessage {
	b := make([]byte, 0, 64+4*len(t.Counts))
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, int64(t.Version), 10)
	b = append(b, `,"total_votes":`...)
	b = strconv.AppendInt(b, int64(t.TotalVotes), 10)
	b = append(b, `,"counts":[`...)
	for i, n := range t.Counts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	b = append(b, `],"is_closed":`...)
	b = strconv.AppendBool(b, t.IsClosed)
	return append(b, '}')
}

// OptionIDs encodes a poll's option ids in display order: the fixed part of its compact
// snapshot (a poll's options never change once it is created).
func OptionIDs(ids []string) json.RawMessage {
	b, _ := json.Marshal(ids) // strings always encode
	if ids == nil {
		b = []byte("[]")
	}
	return b
}

// compactSnapshot joins a poll's option ids (a JSON array) and a compact tally (a JSON object)
// into the compact snapshot {"option_ids":[…],"version",…,"counts":[…],"is_closed"}.
func compactSnapshot(optionIDs, tally json.RawMessage) json.RawMessage {
	if len(optionIDs) == 0 || len(tally) < 2 || tally[0] != '{' {
		return nil
	}
	b := make([]byte, 0, len(optionIDs)+len(tally)+16)
	b = append(b, `{"option_ids":`...)
	b = append(b, optionIDs...)
	if string(tally) != "{}" {
		b = append(b, ',')
	}
	return append(b, tally[1:]...)
}
