package circly

import (
	"math"
	"sort"
	"time"
)

// Tally is a poll's released tally: what every client is allowed to see.
type Tally struct {
	PollID     string
	Version    int
	TotalVotes int
	Options    []OptionCount
	IsClosed   bool
}

// OptionCount is one option's released count.
type OptionCount struct {
	OptionID  string
	VoteCount int
}

// VoteRequest is one ballot. IdempotencyKey is optional.
type VoteRequest struct {
	PollID         string
	OptionID       string
	IdempotencyKey string
}

// VoteResult answers a vote. Released is true when this vote released a new tally.
type VoteResult struct {
	PollID   string
	OptionID string // empty on a replay: nothing stored knows it
	VotedAt  time.Time
	Tally    Tally
	Released bool
	Replayed bool // answered from an earlier request with the same Idempotency-Key
	// OpenErr is why the batch this vote completed could not be opened. The vote itself is
	// recorded; the ballots wait for the next vote, the opening job or the close.
	OpenErr error
}

// Results is a poll's released tally ranked for display.
type Results struct {
	PollID       string
	QuestionText string
	TotalVotes   int
	IsClosed     bool
	Version      int
	Results      []Result
	Winner       *Result
	// Counts are the released counts in the options' display order (Results is ranked): the
	// compact live form of the final results sends only these.
	Counts []int
}

// Result is one option's place in the results.
type Result struct {
	OptionID       string
	MemberNickname string
	VoteCount      int
	Percentage     float64
	Rank           int
}

// Rank orders options by released votes. Ties share a rank (1, 1, 3); percentages have one
// decimal and, when there are votes, sum to exactly 100 (largest remainder). Winner is the
// sole leader, or nil when nobody has votes or several share first place.
func Rank(p Poll) Results {
	r := Results{PollID: p.ID, QuestionText: p.QuestionText, TotalVotes: p.TotalVotes, IsClosed: p.IsClosed,
		Version: p.Version, Results: make([]Result, len(p.Options)), Counts: make([]int, len(p.Options))}
	for i, o := range p.Options {
		r.Results[i] = Result{OptionID: o.ID, MemberNickname: o.MemberNickname, VoteCount: o.VoteCount}
		r.Counts[i] = o.VoteCount
	}
	sort.SliceStable(r.Results, func(i, j int) bool { return r.Results[i].VoteCount > r.Results[j].VoteCount })
	for i := range r.Results {
		if i > 0 && r.Results[i].VoteCount == r.Results[i-1].VoteCount {
			r.Results[i].Rank = r.Results[i-1].Rank
		} else {
			r.Results[i].Rank = i + 1
		}
	}
	assignPercentages(r.Results)
	if len(r.Results) > 0 && r.Results[0].VoteCount > 0 && (len(r.Results) == 1 || r.Results[1].Rank != 1) {
		w := r.Results[0]
		r.Winner = &w
	}
	return r
}

// assignPercentages gives each result its share in tenths of a percent, distributing the
// rounding remainder so the shares add up to 100.0.
func assignPercentages(rs []Result) {
	total := 0
	for _, x := range rs {
		total += x.VoteCount
	}
	if total == 0 {
		return
	}
	tenths := make([]int, len(rs))
	rem := make([]float64, len(rs))
	used := 0
	for i, x := range rs {
		exact := float64(x.VoteCount) * 1000 / float64(total)
		tenths[i] = int(math.Floor(exact))
		rem[i] = exact - float64(tenths[i])
		used += tenths[i]
	}
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rem[order[a]] > rem[order[b]] })
	for k := 0; used < 1000; k++ {
		tenths[order[k%len(order)]]++
		used++
	}
	for i := range rs {
		rs[i].Percentage = float64(tenths[i]) / 10
	}
}
