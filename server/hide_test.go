package server_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"circly/config"
	"circly/sqlstore"
)

// report files a report that must be accepted and returns the raw answer's data, without the
// fields that differ between any two reports (id, created_at).
func (e *env) report(u user, typ, target string) map[string]any {
	e.t.Helper()
	d := e.must(201, e.request("POST", "/v1/reports", u.Token, map[string]any{"type": typ, "target_id": target, "reason": "bullying"}))
	delete(d, "id")
	delete(d, "created_at")
	return d
}

// TestHiddenPollOnREST: the report that crosses REPORT_HIDE_POLL_AT is answered exactly like the
// ones before it; then every route a member has to the poll answers 404 POLL_NOT_FOUND (its
// creator included), and the lists, circle counts, stats and notifications forget it.
func TestHiddenPollOnREST(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(5)
		poll := e.newPoll(c)
		id := poll["id"].(string)
		kept := e.newPollBy(c.Members[1], c, firstTemplate, 1)
		e.vote(c.Members[2], id, poll["options"].([]any)[2].(map[string]any)["id"].(string))

		var answers [][]byte
		for i := 1; i <= 4; i++ {
			b, _ := json.Marshal(e.report(c.Members[i], "poll", id))
			answers = append(answers, b)
		}
		for i, b := range answers[1:] {
			if !bytes.Equal(b, answers[0]) {
				t.Fatalf("report %d answered %s, the first %s", i+2, b, answers[0])
			}
		}

		optionID := poll["options"].([]any)[0].(map[string]any)["id"].(string)
		for _, u := range []user{c.Members[0], c.Members[3]} {
			e.fail(404, "POLL_NOT_FOUND", e.request("GET", "/v1/polls/"+id, u.Token, nil))
			e.fail(404, "POLL_NOT_FOUND", e.request("GET", "/v1/polls/"+id+"/results", u.Token, nil))
		}
		e.fail(404, "POLL_NOT_FOUND", e.request("POST", "/v1/polls/"+id+"/vote", c.Members[3].Token, map[string]any{"option_id": optionID}))
		e.fail(404, "POLL_NOT_FOUND", e.request("PUT", "/v1/polls/"+id, c.Members[0].Token,
			map[string]any{"deadline": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)}))
		e.fail(404, "POLL_NOT_FOUND", e.request("DELETE", "/v1/polls/"+id, c.Members[0].Token, nil))

		d := e.must(200, e.request("GET", "/v1/polls?status=all", c.Members[3].Token, nil))
		if items := list(t, d["polls"]); num(t, d["total"]) != 1 || len(items) != 1 || items[0]["id"] != kept["id"] {
			t.Fatalf("poll list = %v", d)
		}
		d = e.must(200, e.request("GET", "/v1/circles", c.Members[3].Token, nil))
		if cs := list(t, d["circles"]); num(t, cs[0]["active_polls"]) != 1 {
			t.Fatalf("circles = %v", d)
		}
		d = e.must(200, e.request("GET", "/v1/stats/circles/"+c.ID, c.Members[3].Token, nil))
		if num(t, d["total_polls"]) != 1 {
			t.Fatalf("circle stats = %v", d)
		}
		d = e.must(200, e.request("GET", "/v1/notifications?status=all", c.Members[3].Token, nil))
		for _, n := range list(t, d["notifications"]) {
			if data, _ := n["data"].(map[string]any); data["poll_id"] == id {
				t.Fatalf("notification %v points at the hidden poll", n)
			}
		}
		if num(t, d["total"]) != 1 || num(t, d["unread_count"]) != 1 {
			t.Fatalf("notifications = %v", d)
		}
	})
}

// TestMemberRestrictedOnREST: REPORT_HIDE_MEMBER_AT reports about a membership make its
// member's POST /v1/polls there 403 MEMBER_RESTRICTED (naming nobody); the same member's other
// circle, and the other members, are not touched.
func TestMemberRestrictedOnREST(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(7)
		target := c.Members[1]
		var memberID string
		for _, m := range e.members(c) {
			if m["nickname"] == "m1" {
				memberID = m["id"].(string)
			}
		}
		for i := 2; i <= 6; i++ {
			e.report(c.Members[i], "user", memberID)
		}
		r := e.request("POST", "/v1/polls", target.Token, map[string]any{"circle_id": c.ID, "template_id": firstTemplate, "duration_hours": 1})
		errObj := e.fail(403, "MEMBER_RESTRICTED", r)
		if errObj["details"] != nil || bytes.Contains(r.Raw, []byte(c.Members[2].ID)) {
			t.Fatalf("the refusal tells more than that a review is under way: %s", r.Raw)
		}
		e.newPollBy(c.Members[2], c, firstTemplate, 1)
		other := e.newCircleBy(target, 3)
		e.newPollBy(target, other, firstTemplate, 1)
	}, noPollLimits())
}

// TestReportRateLimit: REPORT_RATE_LIMIT reports per user per hour, then 429 with Retry-After;
// another user still reports.
func TestReportRateLimit(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite, withConfig(func(c *config.Config) { c.Reports.RateLimit = 3 }))
	c := e.newCircle(5)
	poll := e.newPoll(c)
	members := e.members(c)
	reporter := c.Members[1]
	e.report(reporter, "circle", c.ID)
	e.report(reporter, "poll", poll["id"].(string))
	e.report(reporter, "user", members[2]["id"].(string))
	r := e.request("POST", "/v1/reports", reporter.Token, map[string]any{"type": "user", "target_id": members[3]["id"], "reason": "spam"})
	errObj := e.fail(429, "RATE_LIMIT_EXCEEDED", r)
	if d, _ := errObj["details"].(map[string]any); num(t, d["limit"]) != 3 || num(t, d["window_seconds"]) != 3600 {
		t.Fatalf("details %v", errObj["details"])
	}
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	e.report(c.Members[2], "circle", c.ID)
	// Reads are not reports.
	e.must(200, e.request("GET", "/v1/reports/my", reporter.Token, nil))
}
