package sqlstore_test

import (
	"testing"
	"time"

	"circly"
)

func TestVote(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		p := e.poll(fx, 0)
		pick := optionOf(t, p, fx.Members[2].ID)
		e.clock.Advance(90 * time.Second)
		r := e.vote(fx.Users[1].ID, p.ID, pick)
		if r.PollID != p.ID || r.OptionID != pick || !r.VotedAt.Equal(t0.Add(90*time.Second)) || r.Replayed || !r.Released {
			t.Fatalf("vote result %+v", r)
		}
		if r.Tally.Version != 1 || r.Tally.TotalVotes != 1 || r.Tally.IsClosed || tallyCounts(r.Tally)[pick] != 1 || len(r.Tally.Options) != 3 {
			t.Fatalf("tally %+v", r.Tally)
		}
		for i, o := range r.Tally.Options {
			if o.OptionID != p.Options[i].ID {
				t.Fatalf("tally options not in display order: %+v", r.Tally.Options)
			}
		}
		got, err := e.s.GetPoll(e.ctx, fx.Users[1].ID, p.ID)
		must(t, err)
		if !got.UserVoted || got.TotalVotes != 1 || counts(got)[pick] != 1 {
			t.Fatalf("poll after vote: %+v", got)
		}
		got, err = e.s.GetPoll(e.ctx, fx.Users[2].ID, p.ID)
		must(t, err)
		if got.UserVoted {
			t.Fatal("user_voted true for someone who has not voted")
		}
	}, batch(1))
}

func TestVoteRejections(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		p := e.poll(fx, 0)
		other := e.poll(fx, 1)
		voter := fx.Users[1]
		vote := func(userID, pollID, optionID string) error {
			_, err := e.s.Vote(e.ctx, userID, circly.VoteRequest{PollID: pollID, OptionID: optionID})
			return err
		}

		wantCode(t, vote(voter.ID, p.ID, optionOf(t, p, fx.Members[1].ID)), circly.CodeSelfVote)
		wantCode(t, vote(voter.ID, p.ID, optionOf(t, other, fx.Members[2].ID)), circly.CodeValidation)
		wantCode(t, vote(voter.ID, p.ID, "00000000-0000-4000-8000-00000000abcd"), circly.CodeValidation)
		wantCode(t, vote(e.user().ID, p.ID, optionOf(t, p, fx.Members[2].ID)), circly.CodeNotCircleMember)
		wantCode(t, vote(voter.ID, "00000000-0000-4000-8000-00000000abcd", optionOf(t, p, fx.Members[2].ID)), circly.CodePollNotFound)
		// The creator votes like anyone else (they have no option of their own).
		must(t, vote(fx.Users[0].ID, p.ID, optionOf(t, p, fx.Members[3].ID)))

		must(t, vote(voter.ID, p.ID, optionOf(t, p, fx.Members[2].ID)))
		wantCode(t, vote(voter.ID, p.ID, optionOf(t, p, fx.Members[2].ID)), circly.CodeAlreadyVoted)
		wantCode(t, vote(voter.ID, p.ID, optionOf(t, p, fx.Members[3].ID)), circly.CodeAlreadyVoted) // no changing

		// Rejected ballots left no trace.
		if n := e.scalar(`SELECT count(*) FROM poll_participants WHERE poll_id = ?`, p.ID); n != 2 {
			t.Fatalf("vote_total %d, want 2", n)
		}
		if n := e.scalar(`SELECT count(*) FROM poll_participants WHERE poll_id = ?`, p.ID); n != 2 {
			t.Fatalf("%d participants, want 2", n)
		}
		a, err := e.s.AuditPoll(e.ctx, p.ID)
		must(t, err)
		if a.CountSum != 2 {
			t.Fatalf("option counts sum to %d, want 2", a.CountSum)
		}

		// Past the deadline (before any close job ran) and after a close.
		e.clock.Set(other.Deadline)
		wantCode(t, vote(fx.Users[2].ID, other.ID, optionOf(t, other, fx.Members[3].ID)), circly.CodePollClosed)
		e.clock.Set(t0)
		_, err = e.s.ClosePoll(e.ctx, other.ID)
		must(t, err)
		wantCode(t, vote(fx.Users[2].ID, other.ID, optionOf(t, other, fx.Members[3].ID)), circly.CodePollClosed)
		if n := e.scalar(`SELECT count(*) FROM poll_participants WHERE poll_id = ?`, other.ID); n != 0 {
			t.Fatalf("closed poll took a vote (%d)", n)
		}
	}, batch(1))
}

func TestVoteAfterLeavingAndRejoining(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(5, 10)
		p := e.poll(fx, 0)
		u := fx.Users[1]
		e.vote(u.ID, p.ID, optionOf(t, p, fx.Members[2].ID))

		_, err := e.s.LeaveCircle(e.ctx, u.ID, fx.ID)
		must(t, err)
		_, err = e.s.Vote(e.ctx, u.ID, circly.VoteRequest{PollID: p.ID, OptionID: optionOf(t, p, fx.Members[3].ID)})
		wantCode(t, err, circly.CodeNotCircleMember)
		_, m, err := e.s.JoinCircle(e.ctx, u.ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: "back"})
		must(t, err)
		if m.ID == fx.Members[1].ID {
			t.Fatal("rejoin reused the old membership")
		}
		got, err := e.s.GetPoll(e.ctx, u.ID, p.ID)
		must(t, err)
		if !got.UserVoted {
			t.Fatal("user_voted forgot the ballot of the old membership")
		}
		_, err = e.s.Vote(e.ctx, u.ID, circly.VoteRequest{PollID: p.ID, OptionID: optionOf(t, p, fx.Members[3].ID)})
		wantCode(t, err, circly.CodeAlreadyVoted)
		if n := e.scalar(`SELECT count(*) FROM poll_participants WHERE poll_id = ?`, p.ID); n != 1 {
			t.Fatalf("vote_total %d, want 1", n)
		}

		// The option of their old membership is still theirs: voting for it is a self vote.
		q := e.poll(fx, 0)
		_, err = e.s.LeaveCircle(e.ctx, fx.Users[4].ID, fx.ID)
		must(t, err)
		_, _, err = e.s.JoinCircle(e.ctx, fx.Users[4].ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: "again"})
		must(t, err)
		seen, err := e.s.GetPoll(e.ctx, fx.Users[4].ID, q.ID)
		must(t, err)
		own := optionOf(t, q, fx.Members[4].ID)
		for _, o := range seen.Options {
			if o.IsSelf != (o.ID == own) {
				t.Fatalf("rejoined member sees option %+v (own option %s)", o, own)
			}
		}
		_, err = e.s.Vote(e.ctx, fx.Users[4].ID, circly.VoteRequest{PollID: q.ID, OptionID: own})
		wantCode(t, err, circly.CodeSelfVote)
	}, batch(1))
}

func TestVoteIdempotencyKey(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		// Open for three hours: the key outlives its TTL until the next full hour.
		p, err := e.s.CreatePoll(e.ctx, fx.Users[0].ID, circly.CreatePollRequest{
			CircleID: fx.ID, TemplateID: templateKind, Deadline: t0.Add(3 * time.Hour)})
		must(t, err)
		q := e.poll(fx, 2)
		u := fx.Users[1]
		pick := optionOf(t, p, fx.Members[2].ID)
		req := circly.VoteRequest{PollID: p.ID, OptionID: pick, IdempotencyKey: "key-1"}

		e.clock.Advance(1500 * time.Millisecond)
		first, err := e.s.Vote(e.ctx, u.ID, req)
		must(t, err)
		if first.Replayed {
			t.Fatal("first request marked as a replay")
		}
		e.clock.Advance(time.Minute)
		again, err := e.s.Vote(e.ctx, u.ID, req)
		must(t, err)
		// The record keeps neither the option nor the time: a replay echoes neither.
		if !again.Replayed || !again.VotedAt.IsZero() || again.PollID != p.ID || again.OptionID != "" {
			t.Fatalf("replay %+v, first %+v", again, first)
		}
		if again.Tally.Version != first.Tally.Version || again.Tally.TotalVotes != first.Tally.TotalVotes {
			t.Fatalf("replayed tally %+v, first %+v", again.Tally, first.Tally)
		}
		if n := e.scalar(`SELECT count(*) FROM poll_participants WHERE poll_id = ?`, p.ID); n != 1 {
			t.Fatalf("%d participants after a replay, want 1", n)
		}
		if n := e.scalar(`SELECT count(*) FROM poll_participants WHERE poll_id = ?`, p.ID); n != 1 {
			t.Fatalf("vote_total %d after a replay, want 1", n)
		}

		// The same key for another poll is a client bug.
		_, err = e.s.Vote(e.ctx, u.ID, circly.VoteRequest{PollID: q.ID, OptionID: optionOf(t, q, fx.Members[3].ID), IdempotencyKey: "key-1"})
		wantCode(t, err, circly.CodeAlreadyExists)
		// Without the key, a second ballot is ALREADY_VOTED; with a new key too.
		_, err = e.s.Vote(e.ctx, u.ID, circly.VoteRequest{PollID: p.ID, OptionID: pick})
		wantCode(t, err, circly.CodeAlreadyVoted)
		_, err = e.s.Vote(e.ctx, u.ID, circly.VoteRequest{PollID: p.ID, OptionID: pick, IdempotencyKey: "key-2"})
		wantCode(t, err, circly.CodeAlreadyVoted)
		// Keys belong to a user: another user's identical key is a fresh request.
		r, err := e.s.Vote(e.ctx, fx.Users[3].ID, circly.VoteRequest{PollID: p.ID, OptionID: pick, IdempotencyKey: "key-1"})
		must(t, err)
		if r.Replayed {
			t.Fatal("another user's key was replayed")
		}
		// A failed request does not burn its key.
		_, err = e.s.Vote(e.ctx, fx.Users[2].ID, circly.VoteRequest{PollID: p.ID, OptionID: pick, IdempotencyKey: "key-3"})
		wantCode(t, err, circly.CodeSelfVote)
		r, err = e.s.Vote(e.ctx, fx.Users[2].ID, circly.VoteRequest{PollID: p.ID, OptionID: optionOf(t, p, fx.Members[3].ID), IdempotencyKey: "key-3"})
		must(t, err)
		if r.Replayed {
			t.Fatal("a key whose request failed was replayed")
		}
		// The record expires on the hour after the TTL, never at a time that dates the vote.
		var expires []time.Time
		must(t, e.db.Gorm.Raw(`SELECT expires_at FROM vote_idempotency`).Scan(&expires).Error)
		for _, x := range expires {
			if !x.Equal(x.Truncate(time.Hour)) {
				t.Fatalf("an Idempotency-Key record expires at %s, not on the hour", x)
			}
		}
		// Once the key is forgotten (on the hour after the first vote's 10 minutes), the retry
		// meets ALREADY_VOTED instead of a replay.
		e.clock.Set(t0.Add(time.Hour))
		_, err = e.s.Vote(e.ctx, u.ID, req)
		wantCode(t, err, circly.CodeAlreadyVoted)
		if n := e.scalar(`SELECT count(*) FROM poll_participants WHERE poll_id = ?`, p.ID); n != 3 {
			t.Fatalf("%d participants, want 3", n)
		}
	}, batch(1), func(p *circly.Policy) { p.IdempotencyTTL = 10 * time.Minute })
}

func TestReleasedTallyBatches(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(10, 10)
		p := e.poll(fx, 0)
		a, b := optionOf(t, p, fx.Members[1].ID), optionOf(t, p, fx.Members[2].ID)
		// Members 3..9 vote in turn; the 1st and 5th ballots go to b, the rest to a.
		type step struct {
			version, total int
			a, b           int
			released       bool
		}
		want := []step{
			{0, 0, 0, 0, false},
			{0, 0, 0, 0, false},
			{1, 3, 2, 1, true},
			{1, 3, 2, 1, false},
			{1, 3, 2, 1, false},
			{2, 6, 4, 2, true},
			{2, 6, 4, 2, false},
		}
		for i, w := range want {
			voter := i + 3
			opt := a
			if i == 0 || i == 4 {
				opt = b
			}
			r := e.vote(fx.Users[voter].ID, p.ID, opt)
			if r.Released != w.released || r.Tally.Version != w.version || r.Tally.TotalVotes != w.total ||
				tallyCounts(r.Tally)[a] != w.a || tallyCounts(r.Tally)[b] != w.b {
				t.Fatalf("after vote %d: released %v tally %+v; want %+v", i+1, r.Released, r.Tally, w)
			}
			got, err := e.s.GetPoll(e.ctx, fx.Users[1].ID, p.ID)
			must(t, err)
			if got.Version != w.version || got.TotalVotes != w.total || counts(got)[a] != w.a || counts(got)[b] != w.b {
				t.Fatalf("GetPoll after vote %d: version %d total %d counts %v; want %+v", i+1, got.Version, got.TotalVotes, counts(got), w)
			}
			tl, err := e.s.Tally(e.ctx, p.ID)
			must(t, err)
			if tl.Version != w.version || tl.TotalVotes != w.total {
				t.Fatalf("Tally after vote %d: %+v", i+1, tl)
			}
		}
		// Closing releases the exact tally, once.
		closed, err := e.s.ClosePoll(e.ctx, p.ID)
		must(t, err)
		if !closed {
			t.Fatal("first ClosePoll returned false")
		}
		closed, err = e.s.ClosePoll(e.ctx, p.ID)
		must(t, err)
		if closed {
			t.Fatal("second ClosePoll returned true")
		}
		tl, err := e.s.Tally(e.ctx, p.ID)
		must(t, err)
		if !tl.IsClosed || tl.Version != 3 || tl.TotalVotes != 7 || tallyCounts(tl)[a] != 5 || tallyCounts(tl)[b] != 2 {
			t.Fatalf("final tally %+v", tl)
		}
		res, err := e.s.GetResults(e.ctx, fx.Users[0].ID, p.ID)
		must(t, err)
		if res.TotalVotes != 7 || res.Version != 3 || res.Winner == nil || res.Winner.OptionID != a || res.Results[0].Percentage != 71.4 ||
			res.Results[1].Percentage != 28.6 || res.Results[2].Percentage != 0 || res.Results[2].Rank != 3 {
			t.Fatalf("results %+v", res)
		}
		if n, err := e.s.DuePolls(e.ctx, 10); err != nil || len(n) != 0 {
			t.Fatalf("DuePolls lists a closed poll: %v %v", n, err)
		}
	}) // default batch: 3
}

func TestClosePollUnknownAndDue(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		closed, err := e.s.ClosePoll(e.ctx, "00000000-0000-4000-8000-00000000abcd")
		if err != nil || closed {
			t.Fatalf("ClosePoll of an unknown poll: %v %v", closed, err)
		}
		fx := e.circle(3, 10)
		p1 := e.poll(fx, 0)
		e.clock.Advance(10 * time.Minute)
		p2 := e.poll(fx, 1)
		if due, err := e.s.DuePolls(e.ctx, 10); err != nil || len(due) != 0 {
			t.Fatalf("due before any deadline: %v %v", due, err)
		}
		e.clock.Advance(2 * time.Hour)
		due, err := e.s.DuePolls(e.ctx, 10)
		must(t, err)
		if len(due) != 2 || due[0] != p1.ID || due[1] != p2.ID {
			t.Fatalf("due = %v, want [%s %s]", due, p1.ID, p2.ID)
		}
		if due, _ := e.s.DuePolls(e.ctx, 1); len(due) != 1 {
			t.Fatalf("limit ignored: %v", due)
		}
	})
}
