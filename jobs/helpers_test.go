package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"circly"
	"circly/internal/testkit"

	"circly/app"
	"circly/jobs"
	"circly/push"
	"circly/push/pushtest"
	"circly/sqlstore"
)

const templateID = "00000000-0000-4000-8000-000000000001"

type (
	clock    = testkit.Clock
	recorder = testkit.Recorder
)

// fixture builds users, circles and polls through the store and app layer.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	db    *sqlstore.DB
	store *sqlstore.Store
	app   *app.Service
}

type member struct {
	User  circly.User
	Token string // push token
}

type circleFx struct {
	ID      string
	Members []member
}

var deviceSeq atomic.Int64

func (f *fixture) user(withToken bool) member {
	f.t.Helper()
	u, err := f.store.DeviceLogin(f.ctx, fmt.Sprintf("jobs-device-%d-%d", time.Now().UnixNano(), deviceSeq.Add(1)), "ios", nil)
	if err != nil {
		f.t.Fatal(err)
	}
	m := member{User: u}
	if withToken {
		m.Token = fmt.Sprintf("ExponentPushToken[%s]", u.ID[:18])
		if _, err := f.store.UpdateUser(f.ctx, u.ID, circly.UserUpdate{PushToken: &m.Token}); err != nil {
			f.t.Fatal(err)
		}
	}
	return m
}

// circle makes a circle of n members, all with push tokens.
func (f *fixture) circle(n int) circleFx {
	f.t.Helper()
	creator := f.user(true)
	c, err := f.store.CreateCircle(f.ctx, creator.User.ID, "Class 1-1", 50, "m0")
	if err != nil {
		f.t.Fatal(err)
	}
	fx := circleFx{ID: c.ID, Members: []member{creator}}
	for i := 1; i < n; i++ {
		m := f.user(true)
		if _, _, err := f.store.JoinCircle(f.ctx, m.User.ID, circly.JoinRequest{InviteCode: *c.InviteCode, Nickname: fmt.Sprintf("m%d", i)}); err != nil {
			f.t.Fatal(err)
		}
		fx.Members = append(fx.Members, m)
	}
	return fx
}

// poll opens a poll by the circle's creator with the given deadline.
func (f *fixture) poll(c circleFx, deadline time.Time) circly.Poll {
	f.t.Helper()
	p, err := f.app.CreatePoll(f.ctx, c.Members[0].User.ID, circly.CreatePollRequest{CircleID: c.ID, TemplateID: templateID, Deadline: deadline})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) vote(m member, p circly.Poll, option int) error {
	_, err := f.app.Vote(f.ctx, m.User.ID, circly.VoteRequest{PollID: p.ID, OptionID: p.Options[option].ID})
	return err
}

func (f *fixture) scalar(q string, args ...any) int64 {
	f.t.Helper()
	var n int64
	if err := f.db.Gorm.Raw(q, args...).Scan(&n).Error; err != nil {
		f.t.Fatal(err)
	}
	return n
}

// pushClient talks to the fake Expo server, with quick retries.
func pushClient(srv *pushtest.Server) *push.Client {
	return push.New(push.Options{URL: srv.URL(), MaxAttempts: 2, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
}

// testPolicy lets polls last a couple of seconds and lifts the poll limits.
func testPolicy() circly.Policy {
	p := circly.DefaultPolicy()
	p.PollMinDuration = time.Second
	p.PollOpenLimit, p.PollDailyLimit = 0, 0
	p.TallyReleaseBatch = 3
	return p
}

// fastSettings are job settings for tests: short backoff, receipts at once.
func fastSettings() jobs.Settings {
	s := jobs.Defaults()
	s.PushBaseBackoff = 200 * time.Millisecond
	s.PushMaxBackoff = time.Second
	s.PushMaxAttempts = 1000
	s.ReceiptDelay = time.Millisecond
	return s
}

// key identifies one push: recipient token, poll and notification type.
func key(m push.Message) string { return m.To + "|" + m.Data["poll_id"] + "|" + m.Data["type"] }

// waitFor polls cond every 50 ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func asError(err error, target **circly.Error) bool { return errors.As(err, target) }
