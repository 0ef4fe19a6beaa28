package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"circly"
)

func TestCreatePollOptions(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(6, 10)
		_, err := e.s.LeaveCircle(e.ctx, fx.Users[4].ID, fx.ID)
		must(t, err)
		tpl, err := e.s.GetTemplate(e.ctx, templateKind)
		must(t, err)

		deadline := t0.Add(3 * time.Hour)
		p, err := e.s.CreatePoll(e.ctx, fx.Users[2].ID, circly.CreatePollRequest{CircleID: fx.ID, TemplateID: templateKind, Deadline: deadline})
		must(t, err)
		if p.CircleID != fx.ID || p.CreatorMemberID != fx.Members[2].ID || p.TemplateID != templateKind ||
			p.QuestionText != tpl.QuestionText || !p.Deadline.Equal(deadline) || !p.CreatedAt.Equal(t0) ||
			p.Version != 0 || p.TotalVotes != 0 || p.IsClosed || p.UserVoted || p.ClosedAt != nil {
			t.Fatalf("created %+v", p)
		}
		// Every other active member, in join order.
		want := []int{0, 1, 3, 5}
		if len(p.Options) != len(want) {
			t.Fatalf("%d options, want %d: %+v", len(p.Options), len(want), p.Options)
		}
		for i, k := range want {
			o := p.Options[i]
			if o.MemberID != fx.Members[k].ID || o.MemberNickname != fx.Members[k].Nickname || o.DisplayOrder != i+1 ||
				o.VoteCount != 0 || o.IsSelf {
				t.Fatalf("option %d = %+v, want member %d (%s)", i, o, k, fx.Members[k].Nickname)
			}
		}
		// is_self is the viewer's own option.
		seen, err := e.s.GetPoll(e.ctx, fx.Users[3].ID, p.ID)
		must(t, err)
		for _, o := range seen.Options {
			if o.IsSelf != (o.MemberID == fx.Members[3].ID) {
				t.Fatalf("member 3 sees option %+v", o)
			}
		}
		got, err := e.s.GetTemplate(e.ctx, templateKind)
		must(t, err)
		if got.UsageCount != tpl.UsageCount+1 {
			t.Fatalf("usage_count %d, want %d", got.UsageCount, tpl.UsageCount+1)
		}

		_, err = e.s.GetPoll(e.ctx, fx.Users[4].ID, p.ID) // left the circle
		wantCode(t, err, circly.CodeNotCircleMember)
		_, err = e.s.GetPoll(e.ctx, fx.Users[0].ID, "00000000-0000-4000-8000-00000000abcd")
		wantCode(t, err, circly.CodePollNotFound)
		_, err = e.s.CreatePoll(e.ctx, e.user().ID, circly.CreatePollRequest{CircleID: fx.ID, TemplateID: templateKind, Deadline: deadline})
		wantCode(t, err, circly.CodeNotCircleMember)
		_, err = e.s.CreatePoll(e.ctx, fx.Users[0].ID, circly.CreatePollRequest{CircleID: fx.ID,
			TemplateID: "00000000-0000-4000-8000-0000000000ff", Deadline: deadline})
		wantCode(t, err, circly.CodeTemplateNotFound)
		_, err = e.s.CreatePoll(e.ctx, fx.Users[0].ID, circly.CreatePollRequest{CircleID: "00000000-0000-4000-8000-00000000abcd",
			TemplateID: templateKind, Deadline: deadline})
		wantCode(t, err, circly.CodeCircleNotFound)
	})
}

func TestCreatePollCircleTooSmall(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(2, 10)
		req := circly.CreatePollRequest{CircleID: fx.ID, TemplateID: templateKind, Deadline: t0.Add(time.Hour)}
		_, err := e.s.CreatePoll(e.ctx, fx.Users[0].ID, req)
		wantCode(t, err, circly.CodeCircleTooSmall)
		third := e.user()
		e.join(fx, third)
		_, err = e.s.CreatePoll(e.ctx, fx.Users[0].ID, req)
		must(t, err)
		// Members who left do not count.
		_, err = e.s.LeaveCircle(e.ctx, third.ID, fx.ID)
		must(t, err)
		_, err = e.s.CreatePoll(e.ctx, fx.Users[1].ID, req)
		wantCode(t, err, circly.CodeCircleTooSmall)
	})
}

func TestCreatePollOpenLimit(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		var polls []circly.Poll
		for i := range 3 {
			polls = append(polls, e.poll(fx, i))
		}
		req := circly.CreatePollRequest{CircleID: fx.ID, TemplateID: templateKind, Deadline: t0.Add(time.Hour)}
		_, err := e.s.CreatePoll(e.ctx, fx.Users[3].ID, req)
		wantCode(t, err, circly.CodeTooManyActivePolls)
		// Another circle has its own limit.
		other := e.circle(3, 10)
		e.poll(other, 0)
		// A closed poll frees a place.
		_, err = e.s.ClosePoll(e.ctx, polls[0].ID)
		must(t, err)
		_, err = e.s.CreatePoll(e.ctx, fx.Users[3].ID, req)
		must(t, err)
		_, err = e.s.CreatePoll(e.ctx, fx.Users[3].ID, req)
		wantCode(t, err, circly.CodeTooManyActivePolls)
		// So does a poll past its deadline that nobody has closed yet: all three are.
		e.clock.Advance(90 * time.Minute)
		_, err = e.s.CreatePoll(e.ctx, fx.Users[0].ID, circly.CreatePollRequest{CircleID: fx.ID, TemplateID: templateKind,
			Deadline: e.clock.Now().Add(time.Hour)})
		must(t, err)
		if n := e.scalar(`SELECT count(*) FROM polls WHERE circle_id = ?`, fx.ID); n != 5 {
			t.Fatalf("%d polls in the circle, want 5", n)
		}
	})
}

func TestCreatePollDailyLimitInUserTimezone(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		utc := func(day, hour, minute int) time.Time { return time.Date(2026, 3, day, hour, minute, 0, 0, time.UTC) }
		e.clock.Set(utc(10, 9, 0))
		fx := e.circle(3, 10)
		u := fx.Users[0]
		create := func(userID string) error {
			_, err := e.s.CreatePoll(e.ctx, userID, circly.CreatePollRequest{CircleID: fx.ID, TemplateID: templateKind,
				Deadline: e.clock.Now().Add(time.Hour)})
			return err
		}
		// Five polls late on 10 March in Seoul (19:00 to 23:30 KST), all on 10 March in UTC too.
		for _, at := range []time.Time{utc(10, 10, 0), utc(10, 11, 0), utc(10, 12, 0), utc(10, 13, 0), utc(10, 14, 30)} {
			e.clock.Set(at)
			if err := create(u.ID); err != nil {
				t.Fatalf("poll at %s: %v", at, err)
			}
		}
		e.clock.Set(utc(10, 14, 59)) // 23:59 in Seoul
		err := create(u.ID)
		wantCode(t, err, circly.CodeTooManyPolls)
		var se *circly.Error
		if errors.As(err, &se); se.Details["retry_after_seconds"] != 61 {
			t.Fatalf("retry_after_seconds = %v, want 61", se.Details["retry_after_seconds"])
		}
		// Another user has their own allowance.
		if err := create(fx.Users[1].ID); err != nil {
			t.Fatalf("another user: %v", err)
		}
		// 00:30 on 11 March in Seoul, still 10 March in UTC: a new day for a user in Seoul.
		e.clock.Set(utc(10, 15, 30))
		if err := create(u.ID); err != nil {
			t.Fatalf("first poll of the next Seoul day: %v", err)
		}
		// For a user in UTC it is still the day of the six polls.
		_, err = e.s.UpdateUser(e.ctx, u.ID, circly.UserUpdate{Timezone: ptr("UTC")})
		must(t, err)
		wantCode(t, create(u.ID), circly.CodeTooManyPolls)
		e.clock.Set(utc(11, 0, 0))
		if err := create(u.ID); err != nil {
			t.Fatalf("first poll of the next UTC day: %v", err)
		}
	}, func(p *circly.Policy) { p.PollOpenLimit = 0 })
}

func TestPollDeadlineWindow(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(3, 10)
		create := func(d time.Duration) error {
			_, err := e.s.CreatePoll(e.ctx, fx.Users[0].ID, circly.CreatePollRequest{CircleID: fx.ID, TemplateID: templateKind, Deadline: t0.Add(d)})
			return err
		}
		for _, d := range []time.Duration{0, -time.Hour, 4 * time.Minute, 24*time.Hour + time.Minute, 25 * time.Hour} {
			wantCode(t, create(d), circly.CodeValidation)
		}
		for _, d := range []time.Duration{5 * time.Minute, time.Hour, 24 * time.Hour} {
			if err := create(d); err != nil {
				t.Fatalf("deadline now+%s refused: %v", d, err)
			}
		}
	}, noPollLimits())
}

func TestUpdatePollDeadline(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		p := e.poll(fx, 1)
		later := t0.Add(6 * time.Hour)

		_, err := e.s.UpdatePollDeadline(e.ctx, fx.Users[0].ID, p.ID, later) // the circle's creator, not the poll's
		wantCode(t, err, circly.CodeNotPollCreator)
		_, err = e.s.UpdatePollDeadline(e.ctx, e.user().ID, p.ID, later)
		wantCode(t, err, circly.CodeNotCircleMember)
		_, err = e.s.UpdatePollDeadline(e.ctx, fx.Users[1].ID, p.ID, t0.Add(48*time.Hour))
		wantCode(t, err, circly.CodeValidation)

		got, err := e.s.UpdatePollDeadline(e.ctx, fx.Users[1].ID, p.ID, later)
		must(t, err)
		if !got.Deadline.Equal(later) {
			t.Fatalf("deadline %s, want %s", got.Deadline, later)
		}
		e.vote(fx.Users[2].ID, p.ID, optionOf(t, p, fx.Members[3].ID))
		_, err = e.s.UpdatePollDeadline(e.ctx, fx.Users[1].ID, p.ID, t0.Add(2*time.Hour))
		wantCode(t, err, circly.CodePollHasVotes)
		got, err = e.s.GetPoll(e.ctx, fx.Users[1].ID, p.ID)
		must(t, err)
		if !got.Deadline.Equal(later) {
			t.Fatal("refused update changed the deadline")
		}

		closed := e.poll(fx, 1)
		_, err = e.s.ClosePoll(e.ctx, closed.ID)
		must(t, err)
		_, err = e.s.UpdatePollDeadline(e.ctx, fx.Users[1].ID, closed.ID, later)
		wantCode(t, err, circly.CodePollClosed)
	})
}

func TestDeletePoll(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		p := e.poll(fx, 1)
		e.vote(fx.Users[2].ID, p.ID, optionOf(t, p, fx.Members[3].ID))

		_, err := e.s.DeletePoll(e.ctx, fx.Users[0].ID, p.ID)
		wantCode(t, err, circly.CodeNotPollCreator)
		_, err = e.s.DeletePoll(e.ctx, e.user().ID, p.ID)
		wantCode(t, err, circly.CodeNotCircleMember)
		e.clock.Advance(23 * time.Hour)
		circleID, err := e.s.DeletePoll(e.ctx, fx.Users[1].ID, p.ID)
		must(t, err)
		if circleID != fx.ID {
			t.Fatalf("DeletePoll returned circle %q, want %q", circleID, fx.ID)
		}
		_, err = e.s.GetPoll(e.ctx, fx.Users[1].ID, p.ID)
		wantCode(t, err, circly.CodePollNotFound)
		_, err = e.s.DeletePoll(e.ctx, fx.Users[1].ID, p.ID)
		wantCode(t, err, circly.CodePollNotFound)
		for _, table := range []string{"poll_options", "poll_participants"} {
			if n := e.scalar(`SELECT count(*) FROM `+table+` WHERE poll_id = ?`, p.ID); n != 0 {
				t.Fatalf("%d %s rows left", n, table)
			}
		}

		old := e.poll(fx, 1)
		e.clock.Advance(24*time.Hour + time.Second)
		_, err = e.s.DeletePoll(e.ctx, fx.Users[1].ID, old.ID)
		wantCode(t, err, circly.CodeForbidden)
	})
}

// TestPollDueAtItsDeadline: at its deadline a poll is due (reads show it open and Due; closing
// it on read is the app's, see app/close_test.go), and its close releases the exact final tally.
func TestPollDueAtItsDeadline(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(5, 10)
		p := e.poll(fx, 0)
		a, b := optionOf(t, p, fx.Members[1].ID), optionOf(t, p, fx.Members[2].ID)
		e.vote(fx.Users[1].ID, p.ID, b)
		e.vote(fx.Users[2].ID, p.ID, a)
		e.vote(fx.Users[3].ID, p.ID, a)
		e.vote(fx.Users[4].ID, p.ID, a) // 4 votes: 3 released (version 1), 1 held back
		got, err := e.s.GetPoll(e.ctx, fx.Users[0].ID, p.ID)
		must(t, err)
		if got.IsClosed || got.Version != 1 || got.TotalVotes != 3 {
			t.Fatalf("before the deadline: closed %v version %d total %d", got.IsClosed, got.Version, got.TotalVotes)
		}

		e.clock.Set(p.Deadline) // the deadline itself ends the poll
		got, err = e.s.GetPoll(e.ctx, fx.Users[2].ID, p.ID)
		must(t, err)
		if got.IsClosed || !got.Due(e.clock.Now()) {
			t.Fatalf("at the deadline: closed %v, due %v; want open and due", got.IsClosed, got.Due(e.clock.Now()))
		}
		due, err := e.s.DuePollsOf(e.ctx, fx.Users[3].ID)
		must(t, err)
		if len(due) != 1 || due[0] != p.ID {
			t.Fatalf("due polls of a member: %v, want [%s]", due, p.ID)
		}
		if closed, err := e.s.ClosePoll(e.ctx, p.ID); err != nil || !closed {
			t.Fatalf("ClosePoll at the deadline: closed=%v err=%v", closed, err)
		}
		got, err = e.s.GetPoll(e.ctx, fx.Users[2].ID, p.ID)
		must(t, err)
		if !got.IsClosed || got.ClosedAt == nil || !got.ClosedAt.Equal(p.Deadline) || got.Version != 2 || got.TotalVotes != 4 {
			t.Fatalf("after the deadline: closed %v at %v, version %d, total %d", got.IsClosed, got.ClosedAt, got.Version, got.TotalVotes)
		}
		if c := counts(got); c[a] != 3 || c[b] != 1 {
			t.Fatalf("final counts %v, want a=3 b=1", c)
		}
		if !got.UserVoted {
			t.Fatal("user_voted false for a voter")
		}
		// Reading again does not release again.
		again, err := e.s.GetPoll(e.ctx, fx.Users[0].ID, p.ID)
		must(t, err)
		if again.Version != 2 {
			t.Fatalf("second read moved the version to %d", again.Version)
		}
		if closed, err := e.s.ClosePoll(e.ctx, p.ID); err != nil || closed {
			t.Fatalf("ClosePoll a second time: closed=%v err=%v", closed, err)
		}
		res, err := e.s.GetResults(e.ctx, fx.Users[1].ID, p.ID)
		must(t, err)
		if !res.IsClosed || res.Version != 2 || res.TotalVotes != 4 || res.Winner == nil || res.Winner.OptionID != a {
			t.Fatalf("results %+v", res)
		}
	})
}

func TestListPolls(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		other := e.circle(3, 10)
		p1 := e.poll(fx, 0)
		e.clock.Advance(time.Minute)
		p2, err := e.s.CreatePoll(e.ctx, fx.Users[1].ID, circly.CreatePollRequest{CircleID: fx.ID, TemplateID: templateKind,
			Deadline: e.clock.Now().Add(3 * time.Hour)})
		must(t, err)
		e.poll(other, 0)
		e.vote(fx.Users[2].ID, p2.ID, optionOf(t, p2, fx.Members[0].ID))

		all, total, err := e.s.ListPolls(e.ctx, fx.Users[2].ID, circly.PollFilter{Status: "all"}, circly.Page{Limit: 20})
		must(t, err)
		if total != 2 || len(all) != 2 || all[0].ID != p2.ID || all[1].ID != p1.ID {
			t.Fatalf("ListPolls all: total %d %+v", total, all)
		}
		if !all[0].UserVoted || all[1].UserVoted || all[0].Options != nil {
			t.Fatalf("user_voted %v/%v, options %v", all[0].UserVoted, all[1].UserVoted, all[0].Options)
		}
		// p1 passes its deadline and is closed (by the job, or by the app before a list).
		e.clock.Advance(time.Hour)
		if closed, err := e.s.ClosePoll(e.ctx, p1.ID); err != nil || !closed {
			t.Fatalf("close p1: %v %v", closed, err)
		}
		active, total, err := e.s.ListPolls(e.ctx, fx.Users[2].ID, circly.PollFilter{CircleID: fx.ID, Status: "active"}, circly.Page{Limit: 20})
		must(t, err)
		if total != 1 || active[0].ID != p2.ID {
			t.Fatalf("active polls: %d %+v", total, active)
		}
		closed, total, err := e.s.ListPolls(e.ctx, fx.Users[2].ID, circly.PollFilter{Status: "closed"}, circly.Page{Limit: 20})
		must(t, err)
		if total != 1 || closed[0].ID != p1.ID || !closed[0].IsClosed || closed[0].Version != 1 {
			t.Fatalf("closed polls: %d %+v", total, closed)
		}
		_, _, err = e.s.ListPolls(e.ctx, fx.Users[2].ID, circly.PollFilter{CircleID: other.ID}, circly.Page{Limit: 20})
		wantCode(t, err, circly.CodeNotCircleMember)
		page, total, err := e.s.ListPolls(e.ctx, fx.Users[0].ID, circly.PollFilter{Status: "all"}, circly.Page{Limit: 1, Offset: 1})
		must(t, err)
		if total != 2 || len(page) != 1 || page[0].ID != p1.ID {
			t.Fatalf("page: %d %+v", total, page)
		}
	})
}
