package sqlstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"circly"
	"circly/sqlstore"
)

// race runs fn(i) for i in [0, n) on n goroutines released at once and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// tallyErrors counts nil errors and store errors by code; any other error fails the test.
func tallyErrors(t *testing.T, errs []error) (ok int, byCode map[circly.Code]int) {
	t.Helper()
	byCode = map[circly.Code]int{}
	for _, err := range errs {
		var se *circly.Error
		switch {
		case err == nil:
			ok++
		case errors.As(err, &se):
			byCode[se.Code]++
		default:
			t.Fatalf("unexpected failure: %v", err)
		}
	}
	return ok, byCode
}

// checkPollInvariants compares the poll's counters with its tables: every participant is either
// counted in the released tally or a ballot waiting in the box, and the waiting ones are fewer
// than a batch (else they would have been opened).
func (e *env) checkPollInvariants(pollID string, wantVotes int64) {
	e.t.Helper()
	a, err := e.s.AuditPoll(e.ctx, pollID)
	must(e.t, err)
	if int64(a.Participants) != wantVotes || int64(a.Released+a.Waiting) != wantVotes || a.CountSum != a.Released {
		e.t.Fatalf("participants %d, released %d + waiting %d, sum of released counts %d; want %d votes",
			a.Participants, a.Released, a.Waiting, a.CountSum, wantVotes)
	}
	if a.Waiting >= e.s.Policy().TallyReleaseBatch {
		e.t.Fatalf("%d ballots wait, a batch is %d: they should have been opened", a.Waiting, e.s.Policy().TallyReleaseBatch)
	}
	if n := e.scalar(`SELECT count(*) FROM poll_participants WHERE poll_id = ?`, pollID); n != wantVotes {
		e.t.Fatalf("%d participant rows, want %d", n, wantVotes)
	}
	tally, err := e.s.Tally(e.ctx, pollID)
	must(e.t, err)
	releasedSum := 0
	for _, o := range tally.Options {
		releasedSum += o.VoteCount
	}
	if releasedSum != tally.TotalVotes || tally.TotalVotes != a.Released {
		e.t.Fatalf("released total %d, sum of released counts %d, audit %d", tally.TotalVotes, releasedSum, a.Released)
	}
}

func TestConcurrentDoubleSubmit(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		p := e.poll(fx, 0)
		opt := optionOf(t, p, fx.Members[2].ID)
		errs := race(50, func(int) error {
			_, err := e.s.Vote(e.ctx, fx.Users[1].ID, circly.VoteRequest{PollID: p.ID, OptionID: opt})
			return err
		})
		ok, codes := tallyErrors(t, errs)
		if ok != 1 || codes[circly.CodeAlreadyVoted] != 49 {
			t.Fatalf("%d ballots accepted, errors %v; want 1 and 49 ALREADY_VOTED", ok, codes)
		}
		e.checkPollInvariants(p.ID, 1)
	}, batch(1))
}

func TestConcurrentRetriesWithOneIdempotencyKey(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		p := e.poll(fx, 0)
		req := circly.VoteRequest{PollID: p.ID, OptionID: optionOf(t, p, fx.Members[2].ID), IdempotencyKey: "tap-1"}
		results := make([]circly.VoteResult, 20)
		errs := race(20, func(i int) error {
			var err error
			results[i], err = e.s.Vote(e.ctx, fx.Users[1].ID, req)
			return err
		})
		ok, codes := tallyErrors(t, errs)
		if ok != 20 {
			t.Fatalf("%d of 20 retries answered, errors %v", ok, codes)
		}
		fresh := 0
		for _, r := range results {
			if !r.Replayed {
				fresh++
			}
			if r.Replayed && (r.OptionID != "" || !r.VotedAt.IsZero()) {
				t.Fatalf("a replay claims option %q at %s: the record keeps neither", r.OptionID, r.VotedAt)
			}
		}
		if fresh != 1 {
			t.Fatalf("%d answers were not replays, want 1", fresh)
		}
		e.checkPollInvariants(p.ID, 1)
	}, batch(1))
}

func TestConcurrentVotesKeepCountsExact(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(40, 50)
		p := e.poll(fx, 0)
		want := map[string]int{}
		picks := make([]string, len(fx.Users))
		for i := 1; i < len(fx.Users); i++ {
			target := i%5 + 1
			if target == i {
				target = 6
			}
			picks[i] = optionOf(t, p, fx.Members[target].ID)
			want[picks[i]]++
		}
		voters := len(fx.Users) - 1
		errs := race(voters, func(i int) error {
			_, err := e.s.Vote(e.ctx, fx.Users[i+1].ID, circly.VoteRequest{PollID: p.ID, OptionID: picks[i+1]})
			return err
		})
		if ok, codes := tallyErrors(t, errs); ok != voters {
			t.Fatalf("%d of %d ballots accepted, errors %v", ok, voters, codes)
		}
		e.checkPollInvariants(p.ID, int64(voters))
		// Released in whole batches of 3, however the openers raced: 39 votes are 13 releases.
		tl, err := e.s.Tally(e.ctx, p.ID)
		must(t, err)
		if tl.TotalVotes != 39 || tl.Version != 13 {
			t.Fatalf("released tally %d votes at version %d, want 39 at 13", tl.TotalVotes, tl.Version)
		}
		if e.db.Dialect == sqlstore.Postgres {
			if n := e.scalar(`SELECT count(DISTINCT xmin::text) FROM poll_options WHERE poll_id = ?`, p.ID); n != 1 {
				t.Fatalf("option rows carry %d xmins", n)
			}
		}
		closed, err := e.s.ClosePoll(e.ctx, p.ID)
		must(t, err)
		if !closed {
			t.Fatal("close failed")
		}
		final, err := e.s.GetPoll(e.ctx, fx.Users[0].ID, p.ID)
		must(t, err)
		if final.TotalVotes != voters || final.Version != tl.Version+1 {
			t.Fatalf("final: %d votes, version %d", final.TotalVotes, final.Version)
		}
		for id, n := range counts(final) {
			if n != want[id] {
				t.Fatalf("option %s has %d votes, want %d", id, n, want[id])
			}
		}
	})
}

func TestConcurrentVotesAndClose(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(30, 50)
		p := e.poll(fx, 0)
		opt, alt := optionOf(t, p, fx.Members[1].ID), optionOf(t, p, fx.Members[2].ID)
		n := len(fx.Users) - 1
		closedBy := make([]bool, 5)
		errs := race(n+5, func(i int) error {
			if i >= n {
				var err error
				closedBy[i-n], err = e.s.ClosePoll(e.ctx, p.ID)
				return err
			}
			o := opt
			if i == 0 { // member 1 cannot vote for themselves
				o = alt
			}
			_, err := e.s.Vote(e.ctx, fx.Users[i+1].ID, circly.VoteRequest{PollID: p.ID, OptionID: o})
			return err
		})
		ok, codes := tallyErrors(t, errs)
		if ok+codes[circly.CodePollClosed] != n+5 {
			t.Fatalf("%d accepted, errors %v", ok, codes)
		}
		closes := 0
		for _, c := range closedBy {
			if c {
				closes++
			}
		}
		if closes != 1 {
			t.Fatalf("%d callers closed the poll, want exactly 1", closes)
		}
		votes := ok - 5
		e.checkPollInvariants(p.ID, int64(votes))
		tl, err := e.s.Tally(e.ctx, p.ID)
		must(t, err)
		if !tl.IsClosed || tl.TotalVotes != votes {
			t.Fatalf("final tally %+v, want %d votes and closed", tl, votes)
		}
	})
}

func TestConcurrentJoinsNeverOverfill(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(1, 50)
		joiners := e.users(59) // 60 people with the creator
		errs := race(len(joiners), func(i int) error {
			_, _, err := e.s.JoinCircle(e.ctx, joiners[i].ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: fmt.Sprintf("j%d", i)})
			return err
		})
		ok, codes := tallyErrors(t, errs)
		if ok != 49 || codes[circly.CodeCircleFull] != 10 {
			t.Fatalf("%d joined, errors %v; want 49 and 10 CIRCLE_FULL", ok, codes)
		}
		if n := e.scalar(`SELECT count(*) FROM circle_members WHERE circle_id = ? AND left_at IS NULL`, fx.ID); n != 50 {
			t.Fatalf("%d members, want 50", n)
		}
		if n := e.scalar(`SELECT member_count FROM circles WHERE id = ?`, fx.ID); n != 50 {
			t.Fatalf("member_count %d, want 50", n)
		}
		if n := e.scalar(`SELECT count(DISTINCT join_seq) FROM circle_members WHERE circle_id = ?`, fx.ID); n != 50 {
			t.Fatalf("%d distinct join_seq values, want 50", n)
		}
	})
}

func TestConcurrentJoinsSameUser(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(1, 50)
		u := e.user()
		errs := race(10, func(i int) error {
			_, _, err := e.s.JoinCircle(e.ctx, u.ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: fmt.Sprintf("n%d", i)})
			return err
		})
		ok, codes := tallyErrors(t, errs)
		if ok != 1 || codes[circly.CodeAlreadyMember] != 9 {
			t.Fatalf("%d joins, errors %v; want 1 and 9 ALREADY_MEMBER", ok, codes)
		}
		if n := e.scalar(`SELECT member_count FROM circles WHERE id = ?`, fx.ID); n != 2 {
			t.Fatalf("member_count %d, want 2", n)
		}
	})
}

func TestConcurrentPollCreationRespectsOpenLimit(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(12, 25)
		errs := race(len(fx.Users), func(i int) error {
			_, err := e.s.CreatePoll(e.ctx, fx.Users[i].ID, circly.CreatePollRequest{CircleID: fx.ID, TemplateID: templateKind,
				Deadline: t0.Add(time.Hour)})
			return err
		})
		ok, codes := tallyErrors(t, errs)
		if ok != 3 || codes[circly.CodeTooManyActivePolls] != 9 {
			t.Fatalf("%d polls created, errors %v; want 3 and 9 TOO_MANY_ACTIVE_POLLS", ok, codes)
		}
		if n := e.scalar(`SELECT count(*) FROM polls WHERE circle_id = ? AND closed_at IS NULL`, fx.ID); n != 3 {
			t.Fatalf("%d open polls, want 3", n)
		}
	})
}

func TestConcurrentPollCreationRespectsDailyLimit(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		u := e.user()
		var circles []*circleFx
		for range 8 {
			fx := e.circle(2, 10)
			e.join(fx, u)
			circles = append(circles, fx)
		}
		errs := race(len(circles), func(i int) error {
			_, err := e.s.CreatePoll(e.ctx, u.ID, circly.CreatePollRequest{CircleID: circles[i].ID, TemplateID: templateKind,
				Deadline: t0.Add(time.Hour)})
			return err
		})
		ok, codes := tallyErrors(t, errs)
		if ok != 5 || codes[circly.CodeTooManyPolls] != 3 {
			t.Fatalf("%d polls created, errors %v; want 5 and 3 TOO_MANY_POLLS", ok, codes)
		}
	})
}

// TestConcurrentAccountDeletionAndPollCreation: deleting an account while other members create
// polls in its circles crosses row locks (a poll locks its circle, then notifies the member,
// which needs a share of that user's row; the deletion holds the user's row, then updates the
// circle). PostgreSQL aborts one side as a deadlock; the store runs it again, so neither
// request fails.
func TestConcurrentAccountDeletionAndPollCreation(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		for round := range 12 {
			a, b := e.circle(4, 10), e.circle(4, 10)
			leaver := e.user()
			e.join(a, leaver)
			e.join(b, leaver)
			errs := race(7, func(i int) error {
				if i == 0 {
					_, err := e.s.DeleteUser(e.ctx, leaver.ID)
					return err
				}
				fx := a
				if i%2 == 0 {
					fx = b
				}
				_, err := e.s.CreatePoll(e.ctx, fx.Users[(i-1)/2%4].ID, circly.CreatePollRequest{
					CircleID: fx.ID, TemplateID: templateKind, Deadline: e.clock.Now().Add(time.Hour)})
				return err
			})
			if ok, byCode := tallyErrors(t, errs); ok != len(errs) {
				t.Fatalf("round %d: %d of %d succeeded, refusals %v", round, ok, len(errs), byCode)
			}
		}
	}, noPollLimits())
}
