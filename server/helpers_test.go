package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"circly"
	"circly/app"
	"circly/auth"
	"circly/config"
	"circly/internal/testdb"
	"circly/internal/testkit"
	"circly/server"
	"circly/sqlstore"

	"go.uber.org/zap"
)

// env is one in-process server on a real TCP port, backed by its own database.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	server *server.Server
	store  *sqlstore.Store
	tokens *auth.Tokens
	db     *sqlstore.DB
	cfg    config.Config
	// offset moves the store's clock (see advance); atomic so that handlers may read it.
	offset atomic.Int64
}

// envSettings is what the options of newEnv may change before the server starts.
type envSettings struct {
	policy   circly.Policy
	cfg      config.Config
	tokenTTL time.Duration
	redis    server.Pinger
	log      *zap.Logger
	hooks    []func(*server.Server)
	deps     []func(*server.Deps)
}

type envOption func(*envSettings)

// batch sets TALLY_RELEASE_BATCH.
func batch(n int) envOption {
	return func(s *envSettings) { s.policy.TallyReleaseBatch = n }
}

// noPollLimits turns off the open and daily poll limits.
func noPollLimits() envOption {
	return func(s *envSettings) { s.policy.PollOpenLimit, s.policy.PollDailyLimit = 0, 0 }
}

// withConfig edits the server's configuration.
func withConfig(fn func(*config.Config)) envOption {
	return func(s *envSettings) { fn(&s.cfg) }
}

// configTokenTTL gives access tokens the configured lifetime (ACCESS_TOKEN_TTL, 7 days by
// default) instead of the harness's hour, as cmd/circly does.
func configTokenTTL() envOption {
	return func(s *envSettings) { s.tokenTTL = s.cfg.AccessTokenTTL }
}

// withRedis gives /health/detailed a Redis to check.
func withRedis(p server.Pinger) envOption {
	return func(s *envSettings) { s.redis = p }
}

// withLog gives the server a logger (the default discards everything).
func withLog(l *zap.Logger) envOption {
	return func(s *envSettings) { s.log = l }
}

// withDeps edits the server's dependencies before it is built (the live hub, say).
func withDeps(fn func(*server.Deps)) envOption {
	return func(s *envSettings) { s.deps = append(s.deps, fn) }
}

// beforeServe runs fn on the server before it takes its first request.
func beforeServe(fn func(*server.Server)) envOption {
	return func(s *envSettings) { s.hooks = append(s.hooks, fn) }
}

func newEnv(t testing.TB, d sqlstore.Dialect, opts ...envOption) *env {
	t.Helper()
	db := testdb.Open(t, d)
	cfg, err := config.FromLookup(func(k string) (string, bool) {
		if k == "DATA_DIR" {
			return t.TempDir(), true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	// Rate limits are off unless a test turns them on (withConfig): most tests make many users
	// from one address within a minute.
	cfg.RateLimitRequests, cfg.AuthRateLimit, cfg.Reports.RateLimit = 0, 0, 0
	st := envSettings{policy: circly.DefaultPolicy(), cfg: cfg, tokenTTL: time.Hour}
	st.policy.TallyReleaseBatch = 1
	for _, o := range opts {
		o(&st)
	}
	e := &env{t: t, db: db, cfg: st.cfg}
	e.store = sqlstore.NewStore(db, st.policy, testkit.Ballots())
	e.store.SetClock(func() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) })
	e.tokens = auth.NewTokens(st.cfg.SecretKey, st.tokenTTL)
	deps := server.Deps{Config: st.cfg, App: app.New(e.store, nil, st.log), Tokens: e.tokens, DB: db, Version: "test", Log: st.log}
	if st.redis != nil {
		deps.Redis = st.redis
	}
	for _, d := range st.deps {
		d(&deps)
	}
	e.server = server.New(deps)
	for _, h := range st.hooks {
		h(e.server)
	}
	e.srv = httptest.NewServer(e.server.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// advance moves the store's clock forward (deadlines, invite expiry, daily limits).
func (e *env) advance(d time.Duration) { e.offset.Add(int64(d)) }

// now is the store's current time.
func (e *env) now() time.Time { return e.store.Now() }

// forEachDialect runs fn against a fresh server on SQLite and on PostgreSQL.
func forEachDialect(t *testing.T, fn func(t *testing.T, e *env), opts ...envOption) {
	for _, d := range testdb.Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, newEnv(t, d, opts...)) })
	}
}

// resp is a decoded answer.
type resp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Data is the success envelope's data object.
func (r resp) Data() map[string]any {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

// Code is the error envelope's code ("" on success).
func (r resp) Code() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// request makes a request; body is JSON-encoded unless it is a string or an io.Reader, and
// headers are name, value pairs (an empty value removes the header).
func (e *env) request(method, path, token string, body any, headers ...string) resp {
	e.t.Helper()
	r, err := e.send(method, path, token, body, headers...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// must checks the status and success envelope of an answer and returns its data.
func (e *env) must(status int, r resp) map[string]any {
	e.t.Helper()
	if r.Status != status {
		e.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	if r.Body["success"] != true {
		e.t.Fatalf("success = %v, want true: %s", r.Body["success"], r.Raw)
	}
	if _, ok := r.Body["data"]; !ok {
		e.t.Fatalf("success envelope without data: %s", r.Raw)
	}
	checkTimestamp(e.t, r)
	return r.Data()
}

// fail checks that an answer is the error envelope with this status and code, and returns
// the error object.
func (e *env) fail(status int, code string, r resp) map[string]any {
	e.t.Helper()
	return checkError(e.t, status, code, r)
}

func checkError(t testing.TB, status int, code string, r resp) map[string]any {
	t.Helper()
	if r.Status != status || r.Code() != code {
		t.Fatalf("got %d %q, want %d %s: %s", r.Status, r.Code(), status, code, r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if v, ok := r.Body["success"]; !ok || v != false {
		t.Fatalf("success = %v (present %v), want false: %s", v, ok, r.Raw)
	}
	if _, ok := r.Body["data"]; ok {
		t.Fatalf("error envelope carries data: %s", r.Raw)
	}
	errObj, _ := r.Body["error"].(map[string]any)
	if msg, _ := errObj["message"].(string); msg == "" {
		t.Fatalf("error.message missing or empty: %s", r.Raw)
	}
	if d, ok := errObj["details"]; ok {
		if _, isObj := d.(map[string]any); !isObj {
			t.Fatalf("error.details is not an object: %s", r.Raw)
		}
	}
	checkTimestamp(t, r)
	return errObj
}

func checkTimestamp(t testing.TB, r resp) {
	t.Helper()
	ts, _ := r.Body["timestamp"].(string)
	when, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		t.Fatalf("timestamp %q is not RFC 3339: %s", ts, r.Raw)
	}
	if _, off := when.Zone(); off != 0 || !strings.HasSuffix(ts, "Z") {
		t.Fatalf("timestamp %q is not UTC", ts)
	}
}

// send makes a request from any goroutine: it reports failures as errors instead of calling
// t.Fatal.
func (e *env) send(method, path, token string, body any, headers ...string) (resp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return resp{}, err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		return resp{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	out := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out, nil
}

// user is a logged-in test user.
type user struct {
	ID, Token, Refresh, Device string
}

var deviceSeq atomic.Int64

func (e *env) login() user {
	e.t.Helper()
	return e.loginDevice(fmt.Sprintf("device-%d-%d", time.Now().UnixNano(), deviceSeq.Add(1)))
}

// loginDevice logs in with a given device id.
func (e *env) loginDevice(device string) user {
	e.t.Helper()
	d := e.must(200, e.request("POST", "/v1/auth/device-login", "", map[string]any{"device_id": device, "platform": "ios"}))
	return user{ID: d["user_id"].(string), Token: d["access_token"].(string), Refresh: d["refresh_token"].(string), Device: device}
}

// circle is a test circle with its creator first in members.
type circle struct {
	ID      string
	Code    string
	Members []user
}

// newCircle makes a circle of n members (creator included), each with nickname m<i>.
func (e *env) newCircle(n int) circle {
	e.t.Helper()
	return e.newCircleBy(e.login(), n)
}

// newCircleBy makes a circle created by creator, with n-1 fresh members joining m1, m2, ...
func (e *env) newCircleBy(creator user, n int, body ...map[string]any) circle {
	e.t.Helper()
	req := map[string]any{"name": "Class 3-2", "nickname": "m0"}
	for _, b := range body {
		for k, v := range b {
			req[k] = v
		}
	}
	d := e.must(201, e.request("POST", "/v1/circles", creator.Token, req))
	c := circle{ID: d["id"].(string), Code: d["invite_code"].(string), Members: []user{creator}}
	for i := 1; i < n; i++ {
		c.Members = append(c.Members, e.join(c, fmt.Sprintf("m%d", i)))
	}
	return c
}

// join logs a new user in and joins the circle with a nickname.
func (e *env) join(c circle, nickname string) user {
	e.t.Helper()
	u := e.login()
	e.must(200, e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_code": c.Code, "nickname": nickname}))
	return u
}

// members returns a circle's detail members as its creator sees them.
func (e *env) members(c circle) []map[string]any {
	e.t.Helper()
	d := e.must(200, e.request("GET", "/v1/circles/"+c.ID, c.Members[0].Token, nil))
	var out []map[string]any
	for _, m := range d["members"].([]any) {
		out = append(out, m.(map[string]any))
	}
	return out
}

const firstTemplate = "00000000-0000-4000-8000-000000000001"

// newPoll opens a 1-hour poll created by the circle's creator.
func (e *env) newPoll(c circle) map[string]any {
	e.t.Helper()
	return e.newPollBy(c.Members[0], c, firstTemplate, 1)
}

// newPollBy opens a poll of a template in circle c, created by u.
func (e *env) newPollBy(u user, c circle, template string, hours int) map[string]any {
	e.t.Helper()
	return e.must(201, e.request("POST", "/v1/polls", u.Token, map[string]any{
		"circle_id": c.ID, "template_id": template, "duration_hours": hours}))
}

// vote casts u's ballot for an option and returns the answer's data.
func (e *env) vote(u user, pollID, optionID string) map[string]any {
	e.t.Helper()
	return e.must(201, e.request("POST", "/v1/polls/"+pollID+"/vote", u.Token, map[string]any{"option_id": optionID}))
}

// templateID is the id of seeded template n (1-based).
func templateID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// unknownID is a well-formed UUID that names nothing.
const unknownID = "7f0c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5"

// num reads a JSON number.
func num(t testing.TB, v any) float64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	return f
}

// list reads a JSON array of objects.
func list(t testing.TB, v any) []map[string]any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%v (%T) is not an array", v, v)
	}
	out := make([]map[string]any, len(a))
	for i, x := range a {
		out[i], ok = x.(map[string]any)
		if !ok {
			t.Fatalf("%v is not an object", x)
		}
	}
	return out
}

// parseTime reads an RFC 3339 UTC time.
func parseTime(t testing.TB, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	when, err := time.Parse(time.RFC3339, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		t.Fatalf("%q is not an RFC 3339 UTC time", s)
	}
	return when
}

// options returns the option ids of a poll in display order, and the member id behind each.
func options(poll map[string]any) (ids, members []string) {
	for _, o := range poll["options"].([]any) {
		m := o.(map[string]any)
		ids = append(ids, m["id"].(string))
		members = append(members, m["member_id"].(string))
	}
	return ids, members
}
