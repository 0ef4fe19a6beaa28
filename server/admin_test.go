package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"circly/auth"
	"circly/metrics"
	"circly/sqlstore"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// operator issues and records an operator token, as `circly admin token` does, on the store's
// clock (which tests move forward).
func (e *env) operator(name string) (token, id string) {
	e.t.Helper()
	ops := auth.NewOperators(e.cfg.SecretKey)
	ops.SetClock(e.now)
	t, err := ops.Issue(name, 8*time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.RecordOperatorToken(context.Background(), t.ID, name, "test shift", t.IssuedAt, t.ExpiresAt); err != nil {
		e.t.Fatal(err)
	}
	return t.Token, t.ID
}

// memberID is the membership id of the circle's i-th member (nickname m<i>).
func (e *env) memberID(c circle, i int) string {
	e.t.Helper()
	for _, m := range e.members(c) {
		if m["nickname"] == fmt.Sprintf("m%d", i) {
			return m["id"].(string)
		}
	}
	e.t.Fatalf("no member m%d", i)
	return ""
}

// reportWhy files a report with its reason that must be accepted.
func (e *env) reportWhy(u user, typ, target, reason string) {
	e.t.Helper()
	e.must(201, e.request("POST", "/v1/reports", u.Token, map[string]any{"type": typ, "target_id": target, "reason": reason}))
}

func (e *env) scalar(q string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := e.db.Gorm.Raw(q, args...).Scan(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestAdminTokensDoNotCross: the admin API refuses user tokens, expired, revoked and
// unrecorded operator tokens; user routes refuse operator tokens. Each with the envelope.
func TestAdminTokensDoNotCross(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		u := e.login()
		op, opID := e.operator("alice")
		e.must(200, e.request("GET", "/v1/admin/reports", op, nil))
		e.fail(401, "UNAUTHORIZED", e.request("GET", "/v1/admin/reports", "", nil))
		e.fail(401, "INVALID_TOKEN", e.request("GET", "/v1/admin/reports", u.Token, nil))
		e.fail(401, "INVALID_TOKEN", e.request("GET", "/v1/admin/audit", u.Token, nil))
		e.fail(401, "INVALID_TOKEN", e.request("GET", "/v1/users/me", op, nil))
		e.fail(401, "INVALID_TOKEN", e.request("POST", "/v1/polls", op, map[string]any{}))

		// Expired: issued two hours ago for one hour.
		past := auth.NewOperators(e.cfg.SecretKey)
		past.SetClock(func() time.Time { return time.Now().Add(-2 * time.Hour) })
		old, err := past.Issue("alice", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.RecordOperatorToken(context.Background(), old.ID, "alice", "old", old.IssuedAt, old.ExpiresAt); err != nil {
			t.Fatal(err)
		}
		e.fail(401, "TOKEN_EXPIRED", e.request("GET", "/v1/admin/reports", old.Token, nil))

		// Signed right but never recorded (not issued by `circly admin token` here): refused.
		stray, err := auth.NewOperators(e.cfg.SecretKey).Issue("mallory", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.fail(401, "INVALID_TOKEN", e.request("GET", "/v1/admin/reports", stray.Token, nil))

		// Revoked: refused at once.
		if err := e.store.RevokeOperatorToken(context.Background(), opID, "bob", "laptop lost"); err != nil {
			t.Fatal(err)
		}
		e.fail(401, "INVALID_TOKEN", e.request("GET", "/v1/admin/reports", op, nil))
	})
}

// TestAdminDecisionNeedsReason: no reason, an empty or blank one is a 400 and writes nothing.
func TestAdminDecisionNeedsReason(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		p := e.newPoll(c)
		pollID := p["id"].(string)
		e.reportWhy(c.Members[1], "poll", pollID, "spam")
		op, _ := e.operator("alice")
		path := "/v1/admin/targets/poll/" + pollID + "/decision"
		for _, body := range []map[string]any{
			{"decision": "uphold"},
			{"decision": "uphold", "reason": ""},
			{"decision": "dismiss", "reason": "   "},
			{"decision": "uphold", "reason": nil},
		} {
			e.fail(400, "VALIDATION_ERROR", e.request("POST", path, op, body))
		}
		e.fail(400, "VALIDATION_ERROR", e.request("POST", path, op, map[string]any{"decision": "dismiss", "reason": "ok", "delete_poll": true}))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", path, op, map[string]any{"decision": "ban", "reason": "ok"}))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/admin/targets/poll/"+pollID+"x/decision", op, map[string]any{"decision": "dismiss", "reason": "ok"}))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/admin/targets/thing/"+pollID+"/decision", op, map[string]any{"decision": "dismiss", "reason": "ok"}))
		long := make([]byte, 501)
		for i := range long {
			long[i] = 'a'
		}
		e.fail(400, "VALIDATION_ERROR", e.request("POST", path, op, map[string]any{"decision": "dismiss", "reason": string(long)}))
		if n := e.scalar(`SELECT count(*) FROM reports WHERE status = 'pending'`); n != 1 {
			t.Fatalf("a refused decision decided reports")
		}
		if n := e.scalar(`SELECT count(*) FROM audit_log WHERE action <> 'token_issued'`); n != 0 {
			t.Fatalf("a refused decision wrote %d audit rows", n)
		}
		if n := e.scalar(`SELECT count(*) FROM polls WHERE hidden_at IS NOT NULL`); n != 0 {
			t.Fatalf("a refused decision hid the poll")
		}
	})
}

// TestAdminReview: the queue groups a target's reports, the content shows the question, an
// uphold hides the poll, a dismiss restores it, delete_poll deletes it, a second decision on a
// decided target is a 409, and the audit log has a row for each.
func TestAdminReview(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(4)
		p := e.newPoll(c)
		pollID := p["id"].(string)
		e.reportWhy(c.Members[1], "poll", pollID, "bullying")
		e.reportWhy(c.Members[2], "poll", pollID, "spam")
		e.reportWhy(c.Members[1], "user", e.memberID(c, 3), "bullying")
		op, _ := e.operator("alice")

		d := e.must(200, e.request("GET", "/v1/admin/reports?limit=1", op, nil))
		if num(t, d["total"]) != 2 || num(t, d["limit"]) != 1 {
			t.Fatalf("queue = %v", d)
		}
		first := list(t, d["targets"])[0]
		if first["target_id"] != pollID || first["target_type"] != "poll" || num(t, first["report_count"]) != 2 ||
			num(t, first["reporter_count"]) != 2 || first["hidden"] != false || len(first["reasons"].([]any)) != 2 {
			t.Fatalf("first target = %v", first)
		}
		e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/admin/reports?limit=-1", op, nil))

		content := e.must(200, e.request("GET", "/v1/admin/targets/poll/"+pollID, op, nil))
		if content["question_text"] != p["question_text"] || content["circle_name"] != "Class 3-2" || len(list(t, content["reports"])) != 2 {
			t.Fatalf("content = %v", content)
		}
		for _, r := range list(t, content["reports"]) {
			if _, ok := r["reporter_user_id"]; ok {
				t.Fatalf("the content names a reporter: %v", r)
			}
		}
		e.fail(404, "NOT_FOUND", e.request("GET", "/v1/admin/targets/poll/"+unknownID, op, nil))
		member := e.must(200, e.request("GET", "/v1/admin/targets/user/"+e.memberID(c, 3), op, nil))
		if member["nickname"] != "m3" || num(t, member["sanctions"]) != 0 {
			t.Fatalf("member content = %v", member)
		}

		upheld := testutil.ToFloat64(metrics.ModerationDecisions.WithLabelValues("uphold", "poll"))
		dismissed := testutil.ToFloat64(metrics.ModerationDecisions.WithLabelValues("dismiss", "poll"))
		path := "/v1/admin/targets/poll/" + pollID + "/decision"
		r := e.must(200, e.request("POST", path, op, map[string]any{"decision": "uphold", "reason": "mocks a classmate"}))
		if r["poll_hidden"] != true || num(t, r["reports"]) != 2 || r["decision_id"] == "" {
			t.Fatalf("uphold = %v", r)
		}
		if n := e.scalar(`SELECT count(*) FROM polls WHERE id = ? AND hidden_at IS NOT NULL`, pollID); n != 1 {
			t.Fatal("the upheld poll is not hidden")
		}
		e.fail(409, "ALREADY_DECIDED", e.request("POST", path, op, map[string]any{"decision": "dismiss", "reason": "second thoughts"}))
		e.fail(404, "NOT_FOUND", e.request("POST", "/v1/admin/targets/poll/"+unknownID+"/decision", op, map[string]any{"decision": "dismiss", "reason": "x"}))

		// Reported again and dismissed: the poll comes back.
		e.reportWhy(c.Members[3], "poll", pollID, "other")
		r = e.must(200, e.request("POST", path, op, map[string]any{"decision": "dismiss", "reason": "it was a joke among friends"}))
		if r["poll_restored"] != true {
			t.Fatalf("dismiss = %v", r)
		}
		if n := e.scalar(`SELECT count(*) FROM polls WHERE id = ? AND hidden_at IS NULL`, pollID); n != 1 {
			t.Fatal("the dismissed poll is still hidden")
		}
		// And once more, upheld with delete_poll: gone.
		e.reportWhy(c.Members[2], "poll", pollID, "bullying")
		r = e.must(200, e.request("POST", path, op, map[string]any{"decision": "uphold", "reason": "again", "delete_poll": true}))
		if r["poll_deleted"] != true {
			t.Fatalf("uphold with delete_poll = %v", r)
		}
		e.fail(404, "POLL_NOT_FOUND", e.request("GET", "/v1/polls/"+pollID, c.Members[0].Token, nil))
		if u, d := testutil.ToFloat64(metrics.ModerationDecisions.WithLabelValues("uphold", "poll"))-upheld,
			testutil.ToFloat64(metrics.ModerationDecisions.WithLabelValues("dismiss", "poll"))-dismissed; u < 2 || d < 1 {
			t.Fatalf("circly_moderation_decisions_total moved by %v upholds and %v dismissals, want 2 and 1", u, d)
		}

		audit := e.must(200, e.request("GET", "/v1/admin/audit?limit=100", op, nil))
		entries := list(t, audit["entries"])
		decisions := 0
		for _, a := range entries {
			if a["action"] == "uphold" || a["action"] == "dismiss" {
				decisions++
				if a["operator"] != "alice" || a["reason"] == "" || a["target_id"] != pollID {
					t.Fatalf("audit entry = %v", a)
				}
				if _, ok := a["details"].(map[string]any); !ok {
					t.Fatalf("details is not an object: %v", a)
				}
			}
		}
		if decisions != 3 || num(t, audit["total"]) != float64(len(entries)) {
			t.Fatalf("audit = %v", audit)
		}
	})
}

// TestSanctionLadderEnforced climbs the default ladder through the admin API: each of the
// first three rungs refuses poll creation and joining with ACCOUNT_SANCTIONED until its end,
// and lets both through after it; the fourth removes the account.
func TestSanctionLadderEnforced(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d, noPollLimits())
			c := e.newCircle(4)
			target := c.Members[3]
			member := e.memberID(c, 3)
			other := e.newCircle(1)
			var op string
			for i, dur := range []time.Duration{24 * time.Hour, 168 * time.Hour, 720 * time.Hour} {
				e.reportWhy(c.Members[1], "user", member, "bullying")
				e.reportWhy(c.Members[2], "user", member, "spam")
				e.reportWhy(c.Members[0], "user", member, "bullying")
				op, _ = e.operator("alice") // the store's clock moved past the last one's expiry
				r := e.must(200, e.request("POST", "/v1/admin/targets/user/"+member+"/decision", op,
					map[string]any{"decision": "uphold", "reason": fmt.Sprintf("rung %d", i+1)}))
				s, _ := r["sanction"].(map[string]any)
				if s == nil || num(t, s["rung"]) != float64(i+1) || s["removed"] != false {
					t.Fatalf("rung %d: %v", i+1, r)
				}
				until := parseTime(t, s["until"])
				if got := until.Sub(e.now()); got < dur-time.Minute || got > dur {
					t.Fatalf("rung %d lasts %v, want %v", i+1, got, dur)
				}
				code := e.must(200, e.request("POST", "/v1/circles/"+other.ID+"/regenerate-invite", other.Members[0].Token, nil))["invite_code"].(string)
				join := map[string]any{"invite_code": code, "nickname": fmt.Sprintf("t%d", i)}
				poll := map[string]any{"circle_id": c.ID, "template_id": firstTemplate, "duration_hours": 1}
				for _, res := range []resp{e.request("POST", "/v1/polls", target.Token, poll), e.request("POST", "/v1/circles/join", target.Token, join)} {
					errObj := e.fail(403, "ACCOUNT_SANCTIONED", res)
					details, _ := errObj["details"].(map[string]any)
					if details["reason"] != "bullying" || !parseTime(t, details["until"]).Equal(until) {
						t.Fatalf("rung %d details = %v", i+1, details)
					}
				}
				// A minute before the end: still refused. Just after it: both go through.
				e.advance(until.Sub(e.now()) - time.Minute)
				e.fail(403, "ACCOUNT_SANCTIONED", e.request("POST", "/v1/polls", target.Token, poll))
				e.advance(time.Minute + time.Second)
				e.must(201, e.request("POST", "/v1/polls", target.Token, poll))
				code = e.must(200, e.request("POST", "/v1/circles/"+other.ID+"/regenerate-invite", other.Members[0].Token, nil))["invite_code"].(string)
				join["invite_code"] = code
				e.must(200, e.request("POST", "/v1/circles/join", target.Token, join))
				e.must(200, e.request("POST", "/v1/circles/"+other.ID+"/leave", target.Token, nil))

				notes := e.must(200, e.request("GET", "/v1/notifications?limit=50", target.Token, nil))
				found := 0
				for _, n := range list(t, notes["notifications"]) {
					if n["type"] == "moderation" {
						found++
						data := n["data"].(map[string]any)
						if data["circle_id"] != c.ID {
							t.Fatalf("moderation notification data = %v", data)
						}
					}
				}
				if found != i+1 {
					t.Fatalf("rung %d: %d moderation notifications", i+1, found)
				}
			}
			// The account's uploaded image goes with it, as DELETE /v1/users/me does.
			e.must(201, e.upload(target.Token, fileAndType("me.png", "image/png", pngFile(t), "profile_image")...))
			if e.uploadRows() != 1 || len(e.uploadDir()) != 1 {
				t.Fatalf("upload rows %d, files %v", e.uploadRows(), e.uploadDir())
			}
			e.reportWhy(c.Members[1], "user", member, "other")
			removals := testutil.ToFloat64(metrics.SanctionsApplied.WithLabelValues("4"))
			op, _ = e.operator("alice")
			r := e.must(200, e.request("POST", "/v1/admin/targets/user/"+member+"/decision", op,
				map[string]any{"decision": "uphold", "reason": "fourth time"}))
			if s, _ := r["sanction"].(map[string]any); s == nil || s["removed"] != true || num(t, s["rung"]) != 4 {
				t.Fatalf("4th rung: %v", r)
			}
			if testutil.ToFloat64(metrics.SanctionsApplied.WithLabelValues("4")) <= removals {
				t.Fatal("circly_sanctions_applied_total{rung=\"4\"} did not move")
			}
			e.fail(401, "UNAUTHORIZED", e.request("GET", "/v1/users/me", target.Token, nil))
			if n := e.scalar(`SELECT count(*) FROM users WHERE id = ?`, target.ID); n != 0 {
				t.Fatal("the account is still there")
			}
			if e.uploadRows() != 0 || len(e.uploadDir()) != 0 {
				t.Fatalf("the removed account's upload stays: rows %d, files %v", e.uploadRows(), e.uploadDir())
			}
		})
	}
}
