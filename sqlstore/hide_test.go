package sqlstore_test

import (
	"testing"
	"time"

	"circly"
)

func hideAt(poll, member int) policyOption {
	return func(p *circly.Policy) { p.ReportHidePollAt, p.ReportHideMemberAt = poll, member }
}

// report files a poll or user report that must succeed and returns what it set off.
func (e *env) report(userID, typ, targetID string) circly.AutoHide {
	e.t.Helper()
	r, hide, err := e.s.FileReport(e.ctx, userID, circly.NewReport{Type: typ, TargetID: targetID, Reason: "bullying"})
	if err != nil {
		e.t.Fatalf("report %s %s by %s: %v", typ, targetID, userID, err)
	}
	if r.Status != circly.ReportStatusPending || r.ID == "" {
		e.t.Fatalf("report = %+v", r)
	}
	return hide
}

// TestReportsHidePollAtThreshold: two reporters hide nothing, the same reporter twice counts
// once, the third distinct reporter hides the poll (once), and a fourth changes nothing.
func TestReportsHidePollAtThreshold(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(6, 10)
		p := e.poll(fx, 0)
		for i := 1; i <= 2; i++ {
			if h := e.report(fx.Users[i].ID, "poll", p.ID); h != (circly.AutoHide{}) {
				t.Fatalf("report %d hid %+v", i, h)
			}
		}
		_, _, err := e.s.FileReport(e.ctx, fx.Users[2].ID, circly.NewReport{Type: "poll", TargetID: p.ID, Reason: "spam"})
		wantCode(t, err, circly.CodeAlreadyExists)
		// Reports of other targets do not count for this one.
		e.report(fx.Users[3].ID, "circle", fx.ID)
		e.report(fx.Users[3].ID, "user", fx.Members[0].ID)
		if n := e.scalar(`SELECT count(*) FROM polls WHERE hidden_at IS NOT NULL`); n != 0 {
			t.Fatalf("%d polls hidden below the threshold", n)
		}
		_, err = e.s.GetPoll(e.ctx, fx.Users[1].ID, p.ID)
		must(t, err)

		h := e.report(fx.Users[3].ID, "poll", p.ID)
		if h != (circly.AutoHide{PollID: p.ID, CircleID: fx.ID}) {
			t.Fatalf("third reporter: %+v, want the poll hidden", h)
		}
		if h := e.report(fx.Users[4].ID, "poll", p.ID); h != (circly.AutoHide{}) {
			t.Fatalf("fourth reporter hid again: %+v", h)
		}
		if n := e.scalar(`SELECT count(*) FROM polls WHERE id = ? AND hidden_at IS NOT NULL`, p.ID); n != 1 {
			t.Fatalf("hidden_at not set")
		}
		if n := e.scalar(`SELECT count(*) FROM circle_members WHERE restricted_at IS NOT NULL`); n != 0 {
			t.Fatalf("a poll report restricted a member")
		}
	})
}

// TestHiddenPollIsInvisible: once hidden, every read and change a member makes answers as if
// the poll never existed, and the circle's counts forget it.
func TestHiddenPollIsInvisible(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(5, 10)
		p := e.poll(fx, 0)
		kept := e.poll(fx, 1)
		opt := optionOf(t, p, fx.Members[2].ID)
		e.vote(fx.Users[1].ID, p.ID, opt)
		before, err := e.s.CircleStats(e.ctx, fx.Users[0].ID, fx.ID)
		must(t, err)
		unreadBefore, err := e.s.UnreadNotificationCount(e.ctx, fx.Users[3].ID)
		must(t, err)
		for i := 1; i <= 3; i++ {
			e.report(fx.Users[i].ID, "poll", p.ID)
		}
		member, creator := fx.Users[3].ID, fx.Users[0].ID

		for _, u := range []string{member, creator} {
			_, err = e.s.GetPoll(e.ctx, u, p.ID)
			wantCode(t, err, circly.CodePollNotFound)
			_, _, err = e.s.PollHead(e.ctx, u, p.ID)
			wantCode(t, err, circly.CodePollNotFound)
			_, err = e.s.GetResults(e.ctx, u, p.ID)
			wantCode(t, err, circly.CodePollNotFound)
			_, _, err = e.s.WatchPoll(e.ctx, u, p.ID)
			wantCode(t, err, circly.CodePollNotFound)
		}
		_, err = e.s.Vote(e.ctx, member, circly.VoteRequest{PollID: p.ID, OptionID: optionOf(t, p, fx.Members[4].ID)})
		wantCode(t, err, circly.CodePollNotFound)
		_, err = e.s.Vote(e.ctx, member, circly.VoteRequest{PollID: p.ID, OptionID: optionOf(t, kept, fx.Members[4].ID)})
		wantCode(t, err, circly.CodePollNotFound)
		_, err = e.s.UpdatePollDeadline(e.ctx, creator, p.ID, e.clock.Now().Add(2*time.Hour))
		wantCode(t, err, circly.CodePollNotFound)
		_, err = e.s.DeletePoll(e.ctx, creator, p.ID)
		wantCode(t, err, circly.CodePollNotFound)
		_, err = e.s.Tally(e.ctx, p.ID)
		wantCode(t, err, circly.CodePollNotFound)

		list, total, err := e.s.ListPolls(e.ctx, member, circly.PollFilter{CircleID: fx.ID, Status: "all"}, circly.Page{Limit: 20})
		must(t, err)
		if total != 1 || len(list) != 1 || list[0].ID != kept.ID {
			t.Fatalf("list: total %d, %+v; want only %s", total, list, kept.ID)
		}
		live, err := e.s.CircleLiveState(e.ctx, fx.ID)
		must(t, err)
		if len(live.OpenPollIDs) != 1 || live.OpenPollIDs[0] != kept.ID {
			t.Fatalf("open_poll_ids %v", live.OpenPollIDs)
		}
		circles, _, err := e.s.ListCircles(e.ctx, member, circly.Page{Limit: 20})
		must(t, err)
		if circles[0].ActivePolls != 1 {
			t.Fatalf("active_polls %d, want 1", circles[0].ActivePolls)
		}
		after, err := e.s.CircleStats(e.ctx, creator, fx.ID)
		must(t, err)
		if before.TotalPolls != 2 || after.TotalPolls != 1 || after.TotalVotes != 0 {
			t.Fatalf("stats before %+v after %+v", before, after)
		}
		// The poll_start notification of the hidden poll is gone from lists and counts.
		notes, err := e.s.ListNotifications(e.ctx, member, circly.NotificationsAll, circly.Page{Limit: 20})
		must(t, err)
		for _, n := range notes.Notifications {
			if n.PollID == p.ID {
				t.Fatalf("notification %+v points at the hidden poll", n)
			}
			if _, err := e.s.MarkNotificationRead(e.ctx, member, n.ID); err != nil {
				t.Fatal(err)
			}
		}
		if unreadBefore != 2 || notes.Total != 1 || notes.Unread != 1 {
			t.Fatalf("unread before %d; after: total %d unread %d, want 1 and 1", unreadBefore, notes.Total, notes.Unread)
		}
		var hiddenNote string
		must(t, e.db.Gorm.Raw(`SELECT id FROM notifications WHERE poll_id = ? AND user_id = ?`, p.ID, member).Scan(&hiddenNote).Error)
		_, err = e.s.MarkNotificationRead(e.ctx, member, hiddenNote)
		wantCode(t, err, circly.CodeNotFound)

		// The open-poll limit counts only what members can see.
		e.poll(fx, 2)
		e.poll(fx, 3)
	})
}

// TestHiddenPollClosesSilently: the close still closes a hidden poll and releases its final
// tally, but writes no notification and names no result; its reminders are not sent.
func TestHiddenPollClosesSilently(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		p := e.poll(fx, 0)
		e.vote(fx.Users[1].ID, p.ID, optionOf(t, p, fx.Members[2].ID))
		for i := 1; i <= 3; i++ {
			e.report(fx.Users[i].ID, "poll", p.ID)
		}
		e.clock.Advance(55 * time.Minute)
		due, err := e.s.DueReminders(e.ctx, 10, 10)
		must(t, err)
		if len(due) != 0 {
			t.Fatalf("reminders due for the hidden poll: %v", due)
		}
		r, err := e.s.SendReminder(e.ctx, p.ID, 10)
		must(t, err)
		if r.Decided || len(r.Notifications) != 0 {
			t.Fatalf("reminder of a hidden poll: %+v", r)
		}
		e.clock.Advance(10 * time.Minute)
		notesBefore := e.scalar(`SELECT count(*) FROM notifications`)
		c, err := e.s.CloseAndNotify(e.ctx, p.ID)
		must(t, err)
		if !c.Closed || !c.Hidden || len(c.Notifications) != 0 || c.Results.TotalVotes != 1 {
			t.Fatalf("close = %+v", c)
		}
		if n := e.scalar(`SELECT count(*) FROM notifications`); n != notesBefore {
			t.Fatalf("the close of a hidden poll wrote %d notifications", n-notesBefore)
		}
		if n := e.scalar(`SELECT count(*) FROM polls WHERE id = ? AND closed_at IS NOT NULL`, p.ID); n != 1 {
			t.Fatal("hidden poll not closed")
		}
	})
}

// TestRestrictedMemberCannotCreatePolls: five distinct reporters of a membership restrict it in
// its circle (once); the member's poll creation there is MEMBER_RESTRICTED, also after leaving
// and joining again; their other circles and the other members are not touched.
func TestRestrictedMemberCannotCreatePolls(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(7, 10)
		target := fx.Users[1]
		for i := 2; i <= 5; i++ {
			if h := e.report(fx.Users[i].ID, "user", fx.Members[1].ID); h != (circly.AutoHide{}) {
				t.Fatalf("report %d restricted: %+v", i, h)
			}
		}
		e.poll(fx, 1) // four reporters: nothing yet
		if h := e.report(fx.Users[6].ID, "user", fx.Members[1].ID); h != (circly.AutoHide{MemberID: fx.Members[1].ID, CircleID: fx.ID}) {
			t.Fatalf("fifth reporter: %+v", h)
		}
		if h := e.report(fx.Users[0].ID, "user", fx.Members[1].ID); h != (circly.AutoHide{}) {
			t.Fatalf("sixth reporter restricted again: %+v", h)
		}
		req := circly.CreatePollRequest{CircleID: fx.ID, TemplateID: templateKind, Deadline: e.clock.Now().Add(time.Hour)}
		_, err := e.s.CreatePoll(e.ctx, target.ID, req)
		wantCode(t, err, circly.CodeMemberRestricted)
		e.poll(fx, 2) // others still can

		other := e.circle(3, 10)
		e.join(other, target)
		_, err = e.s.CreatePoll(e.ctx, target.ID, circly.CreatePollRequest{CircleID: other.ID, TemplateID: templateKind,
			Deadline: e.clock.Now().Add(time.Hour)})
		must(t, err)

		_, err = e.s.LeaveCircle(e.ctx, target.ID, fx.ID)
		must(t, err)
		e.join(fx, target)
		_, err = e.s.CreatePoll(e.ctx, target.ID, req)
		wantCode(t, err, circly.CodeMemberRestricted)
	})
}

// TestReportThresholdOff: a threshold of 0 hides nothing, however many report.
func TestReportThresholdOff(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(8, 10)
		p := e.poll(fx, 0)
		for i := 1; i < 8; i++ {
			e.report(fx.Users[i].ID, "poll", p.ID)
			e.report(fx.Users[i].ID, "user", fx.Members[0].ID)
		}
		if n := e.scalar(`SELECT count(*) FROM polls WHERE hidden_at IS NOT NULL`) +
			e.scalar(`SELECT count(*) FROM circle_members WHERE restricted_at IS NOT NULL`); n != 0 {
			t.Fatalf("%d targets hidden with the thresholds off", n)
		}
		_, err := e.s.GetPoll(e.ctx, fx.Users[1].ID, p.ID)
		must(t, err)
	}, hideAt(0, 0))
}

// TestReportThresholdRace: many distinct reporters of one poll and of one membership at once.
// Exactly one report hides each, and with exactly as many reporters as the threshold the
// target is hidden: counted without the target's lock, on PostgreSQL's READ COMMITTED each
// report could see fewer than the threshold and none would hide it.
func TestReportThresholdRace(t *testing.T) {
	const n = 20
	for _, c := range []struct {
		name         string
		poll, member int
	}{{"above", 3, 5}, {"exactly", n, n}} {
		t.Run(c.name, func(t *testing.T) {
			forEach(t, func(t *testing.T, e *env) {
				fx := e.circle(n+2, 25)
				p := e.poll(fx, n+1)
				for _, target := range []struct{ typ, id string }{{"poll", p.ID}, {"user", fx.Members[n+1].ID}} {
					hides := make([]circly.AutoHide, n)
					errs := race(n, func(i int) error {
						var err error
						_, hides[i], err = e.s.FileReport(e.ctx, fx.Users[i].ID,
							circly.NewReport{Type: target.typ, TargetID: target.id, Reason: "bullying"})
						return err
					})
					if ok, byCode := tallyErrors(t, errs); ok != n {
						t.Fatalf("%s: %d reports filed, errors %v", target.typ, ok, byCode)
					}
					got := 0
					for _, h := range hides {
						if h != (circly.AutoHide{}) {
							got++
						}
					}
					if got != 1 {
						t.Fatalf("%s: %d reports say they hid it, want exactly 1", target.typ, got)
					}
				}
				if h := e.scalar(`SELECT count(*) FROM polls WHERE id = ? AND hidden_at IS NOT NULL`, p.ID); h != 1 {
					t.Fatal("poll not hidden")
				}
				if r := e.scalar(`SELECT count(*) FROM circle_members WHERE id = ? AND restricted_at IS NOT NULL`, fx.Members[n+1].ID); r != 1 {
					t.Fatal("membership not restricted")
				}
			}, hideAt(c.poll, c.member), noPollLimits())
		})
	}
}
