package app

import (
	"encoding/json"
	"fmt"
	"testing"

	"circly"
	"circly/frames"
	"circly/realtime"
)

// fiftyMemberTally is a 50-member poll's tally as a hot poll sends it: 50 options (members)
// with UUIDs, every member's vote released.
func fiftyMemberTally() circly.Tally {
	t := circly.Tally{PollID: "7f0c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5", Version: 50, TotalVotes: 50}
	for i := 0; i < 50; i++ {
		n := 0
		switch {
		case i < 5:
			n = 6 // a few members most voted for
		case i < 25:
			n = 1
		}
		t.Options = append(t.Options, circly.OptionCount{OptionID: fmt.Sprintf("%08x-5e6f-4a7b-8c9d-%012x", i+1, 0xabcdef000000+i), VoteCount: n})
	}
	return t
}

func frameBytes(m realtime.Message, compact bool) []byte {
	data := m.Data
	if compact {
		data = m.Compact
	}
	return frames.Data(m.Type, m.Channel, m.Event, data)
}

// TestTallyFrameBytes measures a 50-member poll's tally frame in both forms: the compact one
// must stay within 512 bytes (issue 16), even with four-digit counts, and carry the same
// counts in the options' display order.
func TestTallyFrameBytes(t *testing.T) {
	tl := fiftyMemberTally()
	m := TallyMessage(tl)
	full, compact := frameBytes(m, false), frameBytes(m, true)
	t.Logf("50-member poll, tally frame: full %d bytes, compact %d bytes (%.1f×)", len(full), len(compact), float64(len(full))/float64(len(compact)))
	if len(compact) > 512 {
		t.Errorf("compact tally frame is %d bytes: %s", len(compact), compact)
	}
	if len(full) < 2500 {
		t.Errorf("full tally frame is only %d bytes: not the poll the issue measured", len(full))
	}
	var fd TallyJSON
	var cd struct {
		Version    int   `json:"version"`
		TotalVotes int   `json:"total_votes"`
		Counts     []int `json:"counts"`
		IsClosed   *bool `json:"is_closed"`
	}
	var ff, cf struct{ Data json.RawMessage }
	if json.Unmarshal(full, &ff) != nil || json.Unmarshal(ff.Data, &fd) != nil || json.Unmarshal(compact, &cf) != nil || json.Unmarshal(cf.Data, &cd) != nil {
		t.Fatalf("frames do not decode: %s / %s", full, compact)
	}
	if cd.Version != fd.Version || cd.TotalVotes != fd.TotalVotes || cd.IsClosed == nil || *cd.IsClosed || len(cd.Counts) != len(fd.Options) {
		t.Fatalf("compact %+v vs full %+v", cd, fd)
	}
	for i, o := range fd.Options {
		if cd.Counts[i] != o.VoteCount {
			t.Fatalf("count %d: compact %d, full %d", i, cd.Counts[i], o.VoteCount)
		}
	}

	// The bound holds with large counts too: 50 four-digit counts and a six-digit version.
	big := fiftyMemberTally()
	big.Version, big.TotalVotes = 999999, 0
	for i := range big.Options {
		big.Options[i].VoteCount = 9999
		big.TotalVotes += 9999
	}
	mb := TallyMessage(big)
	if n := len(frameBytes(mb, true)); n > 512 {
		t.Errorf("compact frame with four-digit counts is %d bytes", n)
	}

	// The compact snapshot: the option ids once, then the counts.
	s := pollSnapshot(tl)
	snap := frames.Subscribed(json.RawMessage("1"), m.Channel, s.CompactData())
	t.Logf("50-member poll, subscribed frame: full %d bytes, compact %d bytes", len(frames.Subscribed(json.RawMessage("1"), m.Channel, s.Data)), len(snap))
	var sd struct {
		OptionIDs []string `json:"option_ids"`
		Counts    []int    `json:"counts"`
		Version   int      `json:"version"`
	}
	var sf struct{ Data json.RawMessage }
	if json.Unmarshal(snap, &sf) != nil || json.Unmarshal(sf.Data, &sd) != nil || len(sd.OptionIDs) != 50 || len(sd.Counts) != 50 || sd.Version != 50 {
		t.Fatalf("compact snapshot %s", snap)
	}
	for i, o := range tl.Options {
		if sd.OptionIDs[i] != o.OptionID || sd.Counts[i] != o.VoteCount {
			t.Fatalf("snapshot option %d: %s=%d, want %s=%d", i, sd.OptionIDs[i], sd.Counts[i], o.OptionID, o.VoteCount)
		}
	}
}

// TestPollClosedCompact: the final results' compact form lists the counts in display order
// (the full form ranks them), and fits the same bound.
func TestPollClosedCompact(t *testing.T) {
	tl := fiftyMemberTally()
	p := circly.Poll{ID: tl.PollID, QuestionText: "누가 제일 친절해?", TotalVotes: tl.TotalVotes, Version: tl.Version + 1, IsClosed: true}
	for i, o := range tl.Options {
		p.Options = append(p.Options, circly.Option{ID: o.OptionID, MemberNickname: fmt.Sprintf("멤버%d", i), VoteCount: (i * 7) % 5})
	}
	p.TotalVotes = 0
	for _, o := range p.Options {
		p.TotalVotes += o.VoteCount
	}
	m := PollClosedMessage(circly.Rank(p))
	full, compact := frameBytes(m, false), frameBytes(m, true)
	t.Logf("50-member poll, poll_closed frame: full %d bytes, compact %d bytes", len(full), len(compact))
	if len(compact) > 512 {
		t.Errorf("compact poll_closed frame is %d bytes", len(compact))
	}
	var cd struct {
		Version, TotalVotes int
		Counts              []int
		IsClosed            bool `json:"is_closed"`
	}
	if err := json.Unmarshal(m.Compact, &cd); err != nil || cd.Version != p.Version || !cd.IsClosed {
		t.Fatalf("compact final %s: %v", m.Compact, err)
	}
	for i, o := range p.Options {
		if cd.Counts[i] != o.VoteCount {
			t.Fatalf("final count %d = %d, want %d (display order)", i, cd.Counts[i], o.VoteCount)
		}
	}
	// Results without display-order counts (a cache entry from before them) go out full only.
	r := circly.Rank(p)
	r.Counts = nil
	if m := PollClosedMessage(r); m.Compact != nil {
		t.Fatalf("compact form without counts: %s", m.Compact)
	}
}

// BenchmarkTallyEncode is the per-message encode cost of a 50-member poll's tally, per form:
// the publisher's data encoding plus the hub's one frame per form (never per watcher).
func BenchmarkTallyEncode(b *testing.B) {
	tl := fiftyMemberTally()
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			data := encode(TallyView(tl))
			n = len(frames.Data(frames.TypeTally, "poll:"+tl.PollID, "", data))
		}
		b.ReportMetric(float64(n), "bytes/frame")
	})
	b.Run("compact", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			n = len(frames.Data(frames.TypeTally, "poll:"+tl.PollID, "", compactTally(tl)))
		}
		b.ReportMetric(float64(n), "bytes/frame")
	})
}
