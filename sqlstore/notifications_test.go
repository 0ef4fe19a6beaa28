package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"circly"
)

func TestPollStartNotificationsInThePollTransaction(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		tok := "ExponentPushToken[abc]"
		_, err := e.s.UpdateUser(e.ctx, fx.Users[1].ID, circly.UserUpdate{PushToken: &tok})
		must(t, err)
		p, notes, err := e.s.CreatePollWithNotifications(e.ctx, fx.Users[0].ID, circly.CreatePollRequest{
			CircleID: fx.ID, TemplateID: templateKind, Deadline: e.clock.Now().Add(time.Hour)})
		must(t, err)
		if len(notes) != 3 {
			t.Fatalf("%d poll_start notifications, want 3 (every member but the creator)", len(notes))
		}
		for _, n := range notes {
			if n.UserID == fx.Users[0].ID || n.Type != circly.NotifyPollStart || n.PollID != p.ID || n.CircleID != fx.ID {
				t.Fatalf("notification %+v", n)
			}
		}
		if n := e.scalar(`SELECT count(*) FROM notifications WHERE poll_id = ?`, p.ID); n != 3 {
			t.Fatalf("%d stored notifications, want 3", n)
		}
		// Only the member with a push token has a push queued.
		if n := e.scalar(`SELECT count(*) FROM push_outbox`); n != 1 {
			t.Fatalf("%d queued pushes, want 1", n)
		}
		c, err := e.s.UnreadNotificationCount(e.ctx, fx.Users[1].ID)
		if err != nil || c != 1 {
			t.Fatalf("unread %d (%v), want 1", c, err)
		}
		// A failed creation writes nothing.
		_, _, err = e.s.CreatePollWithNotifications(e.ctx, fx.Users[0].ID, circly.CreatePollRequest{
			CircleID: fx.ID, TemplateID: "00000000-0000-4000-8000-00000000ffff", Deadline: e.clock.Now().Add(time.Hour)})
		wantCode(t, err, circly.CodeTemplateNotFound)
		if n := e.scalar(`SELECT count(*) FROM notifications`); n != 3 {
			t.Fatalf("%d notifications after a refused poll, want still 3", n)
		}
	})
}

func TestConcurrentClosesNotifyOnce(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(5, 10)
		p := e.poll(fx, 0)
		e.vote(fx.Users[1].ID, p.ID, optionOf(t, p, fx.Members[2].ID))
		e.vote(fx.Users[3].ID, p.ID, optionOf(t, p, fx.Members[2].ID))
		e.vote(fx.Users[2].ID, p.ID, optionOf(t, p, fx.Members[4].ID))
		e.clock.Advance(time.Hour)
		closes := make([]circly.PollClose, 12)
		errs := race(len(closes), func(i int) error {
			var err error
			closes[i], err = e.s.CloseAndNotify(e.ctx, p.ID)
			return err
		})
		ok, codes := tallyErrors(t, errs)
		if ok != len(closes) {
			t.Fatalf("errors %v", codes)
		}
		winners := 0
		for _, c := range closes {
			if c.Closed {
				winners++
				if len(c.Notifications) != 5+2 || !c.Results.IsClosed || c.Results.TotalVotes != 3 {
					t.Fatalf("close %+v, want 5 results + 2 picked and the exact tally", c)
				}
			}
		}
		if winners != 1 {
			t.Fatalf("%d callers closed the poll, want 1", winners)
		}
		if n := e.scalar(`SELECT count(*) FROM notifications WHERE poll_id = ? AND type IN ('poll_result', 'picked')`, p.ID); n != 7 {
			t.Fatalf("%d close notifications, want 7", n)
		}
		var msg string
		must(t, e.db.Gorm.Raw(`SELECT message FROM notifications WHERE type = 'picked' AND user_id = ?`, fx.Users[2].ID).Row().Scan(&msg))
		if want := "2번"; !strings.Contains(msg, want) {
			t.Fatalf("picked message %q does not say %s", msg, want)
		}
	})
}

func TestDeletedCircleClosesPollsWithoutResultNotifications(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(3, 10)
		p := e.poll(fx, 0)
		_, err := e.s.DeleteCircle(e.ctx, fx.Users[0].ID, fx.ID)
		must(t, err)
		if n := e.scalar(`SELECT count(*) FROM notifications WHERE poll_id = ? AND type <> 'poll_start'`, p.ID); n != 0 {
			t.Fatalf("%d result notifications for a deleted circle's poll", n)
		}
	})
}

// TestUnreadCountFollowsWrites: the unread count (the live user channel's snapshot) sees every
// write, and callers racing poll creations (transactions on SQLite's one connection) all get
// an answer.
func TestUnreadCountFollowsWrites(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		reader := fx.Users[1].ID
		count := func() int {
			t.Helper()
			n, err := e.s.UnreadNotificationCount(e.ctx, reader)
			must(t, err)
			return n
		}
		if n := count(); n != 0 {
			t.Fatalf("unread %d before any poll, want 0", n)
		}
		const polls = 5
		errs := race(polls+20, func(i int) error {
			if i < polls {
				_, _, err := e.s.CreatePollWithNotifications(e.ctx, fx.Users[0].ID, circly.CreatePollRequest{
					CircleID: fx.ID, TemplateID: templateKind, Deadline: e.clock.Now().Add(time.Hour)})
				return err
			}
			_, err := e.s.UnreadNotificationCount(e.ctx, reader)
			return err
		})
		for _, err := range errs {
			must(t, err)
		}
		if n := count(); n != polls {
			t.Fatalf("unread %d after %d polls, want %d", n, polls, polls)
		}
		_, err := e.s.MarkAllNotificationsRead(e.ctx, reader)
		must(t, err)
		if n := count(); n != 0 {
			t.Fatalf("unread %d after marking all read, want 0", n)
		}
	}, noPollLimits())
}
