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

	"circly/auth"
	"circly/config"
	"circly/internal/testdb"
	"circly/models"
	"circly/server"
)

// env is one in-process server on a real TCP port, backed by its own database.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	server *server.Server
	store  *models.Store
	tokens *auth.Tokens
	db     *models.DB
	cfg    config.Config
	// offset moves the store's clock (see advance); atomic so that handlers may read it.
	offset atomic.Int64
}

// envSettings is what the options of newEnv may change before the server starts.
type envSettings struct {
	policy   models.Policy
	cfg      config.Config
	tokenTTL time.Duration
	redis    server.Pinger
	hooks    []func(*server.Server)
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

// beforeServe runs fn on the server before it takes its first request.
func beforeServe(fn func(*server.Server)) envOption {
	return func(s *envSettings) { s.hooks = append(s.hooks, fn) }
}

func newEnv(t testing.TB, d models.Dialect, opts ...envOption) *env {
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
	st := envSettings{policy: models.DefaultPolicy(), cfg: cfg, tokenTTL: time.Hour}
	st.policy.TallyReleaseBatch = 1
	for _, o := range opts {
		o(&st)
	}
	e := &env{t: t, db: db, cfg: st.cfg}
	e.store = models.NewStore(db, st.policy)
	e.store.SetClock(func() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) })
	e.tokens = auth.NewTokens(st.cfg.SecretKey, st.tokenTTL)
	deps := server.Deps{Config: st.cfg, Store: e.store, Tokens: e.tokens, DB: db, Version: "test"}
	if st.redis != nil {
		deps.Redis = st.redis
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

func (e *env) request(method, path, token string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

// must checks the status of an answer and returns its data.
func (e *env) must(status int, r resp) map[string]any {
	e.t.Helper()
	if r.Status != status {
		e.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r.Data()
}

// user is a logged-in test user.
type user struct {
	ID, Token, Refresh string
}

var deviceSeq atomic.Int64

func (e *env) login() user {
	e.t.Helper()
	d := e.must(200, e.request("POST", "/v1/auth/device-login", "", map[string]any{
		"device_id": fmt.Sprintf("device-%d-%d", time.Now().UnixNano(), deviceSeq.Add(1)), "platform": "ios"}))
	return user{ID: d["user_id"].(string), Token: d["access_token"].(string), Refresh: d["refresh_token"].(string)}
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
	creator := e.login()
	d := e.must(201, e.request("POST", "/v1/circles", creator.Token, map[string]any{"name": "Class 3-2", "nickname": "m0"}))
	c := circle{ID: d["id"].(string), Code: d["invite_code"].(string), Members: []user{creator}}
	for i := 1; i < n; i++ {
		u := e.login()
		e.must(200, e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_code": c.Code, "nickname": fmt.Sprintf("m%d", i)}))
		c.Members = append(c.Members, u)
	}
	return c
}

const firstTemplate = "00000000-0000-4000-8000-000000000001"

// newPoll opens a 1-hour poll created by the circle's creator.
func (e *env) newPoll(c circle) map[string]any {
	e.t.Helper()
	return e.must(201, e.request("POST", "/v1/polls", c.Members[0].Token, map[string]any{
		"circle_id": c.ID, "template_id": firstTemplate, "duration_hours": 1}))
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
