package frames_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"circly/frames"
)

func TestCompactTallyEncode(t *testing.T) {
	cases := []struct {
		in   frames.CompactTally
		want string
	}{
		{frames.CompactTally{Version: 12, TotalVotes: 9, Counts: []int{4, 0, 5}}, `{"version":12,"total_votes":9,"counts":[4,0,5],"is_closed":false}`},
		{frames.CompactTally{Version: 3, TotalVotes: 1, Counts: []int{1}, IsClosed: true}, `{"version":3,"total_votes":1,"counts":[1],"is_closed":true}`},
		{frames.CompactTally{}, `{"version":0,"total_votes":0,"counts":[],"is_closed":false}`},
	}
	for _, c := range cases {
		got := c.in.Encode()
		if string(got) != c.want {
			t.Errorf("Encode(%+v) = %s, want %s", c.in, got, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("invalid JSON %s", got)
		}
	}
}

// TestSnapshotCompactData: a poll snapshot with its compact parts answers the option ids once
// and the counts; one without (circle and user channels) answers its full data.
func TestSnapshotCompactData(t *testing.T) {
	s := frames.Snapshot{Version: 4, Data: json.RawMessage(`{"poll_id":"p","version":4}`),
		OptionIDs: frames.OptionIDs([]string{"a", "b\"c"}),
		Compact:   frames.CompactTally{Version: 4, TotalVotes: 4, Counts: []int{3, 1}}.Encode()}
	got := s.CompactData()
	want := `{"option_ids":["a","b\"c"],"version":4,"total_votes":4,"counts":[3,1],"is_closed":false}`
	if string(got) != want {
		t.Fatalf("CompactData = %s, want %s", got, want)
	}
	var v struct {
		OptionIDs []string `json:"option_ids"`
		Counts    []int    `json:"counts"`
	}
	if err := json.Unmarshal(got, &v); err != nil || !reflect.DeepEqual(v.OptionIDs, []string{"a", "b\"c"}) || !reflect.DeepEqual(v.Counts, []int{3, 1}) {
		t.Fatalf("decoded %+v, %v", v, err)
	}
	for _, s := range []frames.Snapshot{
		{Data: json.RawMessage(`{"unread_count":2}`)},
		{Data: json.RawMessage(`{"version":1}`), Compact: json.RawMessage(`{"version":1}`)}, // no option ids
		{Data: json.RawMessage(`{"version":1}`), OptionIDs: json.RawMessage(`["a"]`)},       // no compact tally
	} {
		if got := s.CompactData(); string(got) != string(s.Data) {
			t.Errorf("CompactData of %+v = %s, want the full data", s, got)
		}
	}
	if got := string(frames.OptionIDs(nil)); got != "[]" {
		t.Errorf("OptionIDs(nil) = %s", got)
	}
}

// TestDataFrameBothForms: the one frame encoder wraps either form's data the same way.
func TestDataFrameBothForms(t *testing.T) {
	ch := "poll:7f0c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5"
	full := frames.Data(frames.TypeTally, ch, "", json.RawMessage(`{"poll_id":"7f0c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5","version":2,"total_votes":2,"options":[{"option_id":"a","vote_count":2}],"is_closed":false}`))
	if want := `{"type":"tally","channel":"` + ch + `","data":{"poll_id":"7f0c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5","version":2,"total_votes":2,"options":[{"option_id":"a","vote_count":2}],"is_closed":false}}`; string(full) != want {
		t.Errorf("full frame %s", full)
	}
	compact := frames.Data(frames.TypePollClosed, ch, "", frames.CompactTally{Version: 3, TotalVotes: 2, Counts: []int{2}, IsClosed: true}.Encode())
	if want := `{"type":"poll_closed","channel":"` + ch + `","data":{"version":3,"total_votes":2,"counts":[2],"is_closed":true}}`; string(compact) != want {
		t.Errorf("compact frame %s", compact)
	}
}
