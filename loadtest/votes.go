package loadtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Ballot is one vote to cast: a member's choice on a poll.
type Ballot struct {
	Poll     int // index into the tracker's polls
	PollID   string
	Token    string
	OptionID string
}

// ballot picks member j's option on a poll: spread over the options, never their own.
func ballot(pollIdx int, poll Poll, m Member, j int) Ballot {
	n := len(poll.Options)
	for k := range n {
		o := poll.Options[(j+pollIdx+k)%n]
		if o.MemberID != m.MemberID {
			return Ballot{Poll: pollIdx, PollID: poll.ID, Token: m.Token, OptionID: o.ID}
		}
	}
	return Ballot{} // unreachable: a poll has at least two options
}

// ClassroomBallots orders every member's vote on every poll so that consecutive votes land in
// different circles: round r of each circle's polls, member by member, circle by circle.
func ClassroomBallots(p *Population) []Ballot {
	var out []Ballot
	if len(p.Polls) == 0 {
		return out
	}
	for r := range len(p.Polls[0]) {
		for j := range len(p.Members[0]) {
			for c := range p.Circles {
				out = append(out, ballot(p.PollBase[c]+r, p.Polls[c][r], p.Members[c][j], j))
			}
		}
	}
	return out
}

// HotBallots fills one poll after another: every member's vote on poll 0, then poll 1, …
func HotBallots(p *Population) []Ballot {
	var out []Ballot
	for c := range p.Circles {
		for r, poll := range p.Polls[c] {
			for j, m := range p.Members[c] {
				out = append(out, ballot(p.PollBase[c]+r, poll, m, j))
			}
		}
	}
	return out
}

// VoteStats is the outcome of a voting phase.
type VoteStats struct {
	OK, Failed int64
	Errors     map[string]int
	Elapsed    time.Duration // first send to last answer
	Behind     time.Duration // how late the last ballot left against its schedule
}

// CastVotes sends ballots at a steady rate (open loop: the schedule does not wait for answers,
// only for a free voter) through voters concurrent HTTP requests, recording each accepted vote in
// the tracker.
func CastVotes(ctx context.Context, r *REST, tr *Tracker, ballots []Ballot, rate float64, voters int) VoteStats {
	return Deliver(ctx, tr, ballots, rate, voters, func(ctx context.Context, b Ballot) (int64, error) {
		return r.Vote(ctx, b.Token, b.PollID, b.OptionID)
	})
}

// Deliver is CastVotes with any way of delivering a ballot that answers with the tally version
// it released: a vote through REST, or a publish to the peer (Publisher.Publish).
func Deliver(ctx context.Context, tr *Tracker, ballots []Ballot, rate float64, voters int, send func(context.Context, Ballot) (int64, error)) VoteStats {
	ps := paced(ctx, len(ballots), rate, voters, func(i int) error {
		b := ballots[i]
		t0 := tr.Now()
		v, err := send(ctx, b)
		if err == nil {
			tr.VoteDone(b.Poll, v, t0)
		}
		return err
	})
	return VoteStats{OK: ps.ok, Failed: ps.failed, Errors: ps.errors, Elapsed: ps.elapsed, Behind: ps.behind}
}

// paceStats is the outcome of a paced phase.
type paceStats struct {
	ok, failed int64
	errors     map[string]int // failures by errorKey
	elapsed    time.Duration  // first send to last answer
	behind     time.Duration  // how late the last request left against its schedule
}

// paced runs do(i) for every i in [0, n) at rate per second on workers goroutines. It is open
// loop: the schedule waits only for a free worker, never for an answer.
func paced(ctx context.Context, n int, rate float64, workers int, do func(i int) error) paceStats {
	var (
		st    = paceStats{errors: map[string]int{}}
		mu    sync.Mutex
		ok    atomic.Int64
		bad   atomic.Int64
		wg    sync.WaitGroup
		queue = make(chan int, workers)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				if err := do(i); err != nil {
					bad.Add(1)
					mu.Lock()
					st.errors[errorKey(err)]++
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	start := time.Now()
	i := 0
	for i < n && ctx.Err() == nil {
		due := min(int(time.Since(start).Seconds()*rate)+1, n)
		for ; i < due; i++ {
			queue <- i
		}
		if i < n {
			time.Sleep(time.Millisecond)
		}
	}
	if n > 0 {
		st.behind = time.Since(start) - time.Duration(float64(n-1)/rate*float64(time.Second))
	}
	close(queue)
	wg.Wait()
	st.elapsed = time.Since(start)
	st.ok, st.failed = ok.Load(), bad.Load()
	return st
}

// errorKey names a failed request for the error counts: its API code, else the error itself.
func errorKey(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return short(err)
}
