package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"circly"
	"circly/internal/testkit"

	"circly/internal/testdb"
	"circly/sqlstore"
)

// Seeded template ids (migrations/*/00002_seed_templates.sql).
const (
	templateKind  = "00000000-0000-4000-8000-000000000005"
	templateSmile = "00000000-0000-4000-8000-000000000001"
)

// t0 is the fixed start of every test clock: 12:00 in Seoul.
var t0 = time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC)

// env is one store on one fresh database with a fixed clock.
type env struct {
	t       *testing.T
	ctx     context.Context
	db      *sqlstore.DB
	s       *sqlstore.Store
	clock   *testkit.Clock
	devices int
}

type policyOption func(*circly.Policy)

func batch(n int) policyOption { return func(p *circly.Policy) { p.TallyReleaseBatch = n } }

func noPollLimits() policyOption {
	return func(p *circly.Policy) { p.PollOpenLimit, p.PollDailyLimit = 0, 0 }
}

func newEnv(t *testing.T, db *sqlstore.DB, opts ...policyOption) *env {
	t.Helper()
	p := circly.DefaultPolicy()
	for _, o := range opts {
		o(&p)
	}
	if db.Dialect == sqlstore.Postgres {
		// The PostgreSQL server is shared with other packages' tests: 16 connections still
		// give the concurrency tests real parallel transactions.
		db.SQL().SetMaxOpenConns(16)
		db.SQL().SetMaxIdleConns(16)
	}
	s := sqlstore.NewStore(db, p, testkit.Ballots())
	c := testkit.NewClock(t0)
	s.SetClock(c.Now)
	return &env{t: t, ctx: context.Background(), db: db, s: s, clock: c}
}

// forEach runs fn on a fresh SQLite and a fresh PostgreSQL store.
func forEach(t *testing.T, fn func(t *testing.T, e *env), opts ...policyOption) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) { fn(t, newEnv(t, db, opts...)) })
}

// user logs in a new device.
func (e *env) user() circly.User {
	e.t.Helper()
	e.devices++
	u, err := e.s.DeviceLogin(e.ctx, fmt.Sprintf("device-%03d", e.devices), "ios", nil)
	if err != nil {
		e.t.Fatalf("device login: %v", err)
	}
	return u
}

func (e *env) users(n int) []circly.User {
	e.t.Helper()
	out := make([]circly.User, n)
	for i := range out {
		out[i] = e.user()
	}
	return out
}

// circleFx is a circle with its members; Users[i] holds membership Members[i], Users[0] created it.
type circleFx struct {
	circly.Circle
	Users   []circly.User
	Members []circly.Member
}

// circle creates a circle of maxMembers places with n members (n ≥ 1), joined in order.
func (e *env) circle(n, maxMembers int) *circleFx {
	e.t.Helper()
	us := e.users(n)
	c, err := e.s.CreateCircle(e.ctx, us[0].ID, "Class 2-3", maxMembers, "m0")
	if err != nil {
		e.t.Fatalf("create circle: %v", err)
	}
	fx := &circleFx{Circle: c, Users: us[:1]}
	d, err := e.s.GetCircle(e.ctx, us[0].ID, c.ID)
	if err != nil {
		e.t.Fatalf("get circle: %v", err)
	}
	fx.Members = d.Members
	for _, u := range us[1:] {
		e.join(fx, u)
	}
	return fx
}

// join adds a user to the circle fixture.
func (e *env) join(fx *circleFx, u circly.User) circly.Member {
	e.t.Helper()
	_, m, err := e.s.JoinCircle(e.ctx, u.ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: fmt.Sprintf("m%d", len(fx.Members))})
	if err != nil {
		e.t.Fatalf("join circle: %v", err)
	}
	fx.Users = append(fx.Users, u)
	fx.Members = append(fx.Members, m)
	return m
}

// poll opens a one-hour poll created by the circle's i-th member.
func (e *env) poll(fx *circleFx, i int) circly.Poll {
	e.t.Helper()
	p, err := e.s.CreatePoll(e.ctx, fx.Users[i].ID, circly.CreatePollRequest{
		CircleID: fx.ID, TemplateID: templateKind, Deadline: e.clock.Now().Add(time.Hour)})
	if err != nil {
		e.t.Fatalf("create poll: %v", err)
	}
	return p
}

// optionOf is the option of a poll that names the given membership.
func optionOf(t *testing.T, p circly.Poll, memberID string) string {
	t.Helper()
	for _, o := range p.Options {
		if o.MemberID == memberID {
			return o.ID
		}
	}
	t.Fatalf("poll %s has no option for member %s", p.ID, memberID)
	return ""
}

// vote casts a ballot that must succeed.
func (e *env) vote(userID, pollID, optionID string) circly.VoteResult {
	e.t.Helper()
	r, err := e.s.Vote(e.ctx, userID, circly.VoteRequest{PollID: pollID, OptionID: optionID})
	if err != nil {
		e.t.Fatalf("vote: %v", err)
	}
	return r
}

// scalar runs a counting query straight against the tables.
func (e *env) scalar(q string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := e.db.Gorm.WithContext(e.ctx).Raw(q, args...).Scan(&n).Error; err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// wantCode fails unless err is a store error with the given code.
func wantCode(t *testing.T, err error, code circly.Code) {
	t.Helper()
	var se *circly.Error
	if !errors.As(err, &se) {
		t.Fatalf("want error %s, got %v", code, err)
	}
	if se.Code != code {
		t.Fatalf("want error %s, got %s (%v)", code, se.Code, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// counts returns the released counts of a poll's options by option id.
func counts(p circly.Poll) map[string]int {
	m := map[string]int{}
	for _, o := range p.Options {
		m[o.ID] = o.VoteCount
	}
	return m
}

func tallyCounts(tl circly.Tally) map[string]int {
	m := map[string]int{}
	for _, o := range tl.Options {
		m[o.OptionID] = o.VoteCount
	}
	return m
}

func ptr[T any](v T) *T { return &v }
