package server_test

import (
	"strings"
	"testing"
	"time"
)

func TestReports(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		poll := e.newPoll(c)
		reporter := c.Members[1]
		memberID := e.members(c)[2]["id"].(string)

		r := e.request("POST", "/v1/reports", reporter.Token, map[string]any{
			"type": "user", "target_id": memberID, "reason": "bullying", "description": "  mean comments\nevery day  "})
		d := e.must(201, r)
		if d["type"] != "user" || d["target_id"] != memberID || d["reason"] != "bullying" || d["status"] != "pending" ||
			d["description"] != "mean comments\nevery day" || d["id"] == "" {
			t.Fatalf("report = %v", d)
		}
		parseTime(t, d["created_at"])
		if strings.Contains(string(r.Raw), c.Members[2].ID) {
			t.Fatal("the answer holds the reported member's user id")
		}
		e.must(201, e.request("POST", "/v1/reports", reporter.Token, map[string]any{"type": "poll", "target_id": poll["id"], "reason": "spam"}))
		d = e.must(201, e.request("POST", "/v1/reports", reporter.Token, map[string]any{"type": "circle", "target_id": c.ID, "reason": "other", "description": "  "}))
		if d["description"] != nil {
			t.Fatalf("blank description stored as %v", d["description"])
		}

		// The same pending target again: 409.
		e.fail(409, "ALREADY_EXISTS", e.request("POST", "/v1/reports", reporter.Token, map[string]any{"type": "poll", "target_id": poll["id"], "reason": "other"}))

		d = e.must(200, e.request("GET", "/v1/reports/my?limit=2", reporter.Token, nil))
		if num(t, d["total"]) != 3 || num(t, d["limit"]) != 2 || num(t, d["offset"]) != 0 || len(list(t, d["reports"])) != 2 {
			t.Fatalf("my reports = %v", d)
		}
		d = e.must(200, e.request("GET", "/v1/reports/my?limit=2&offset=2", reporter.Token, nil))
		if items := list(t, d["reports"]); len(items) != 1 || items[0]["type"] != "user" {
			t.Fatalf("second page = %v", d)
		}
		d = e.must(200, e.request("GET", "/v1/reports/my", c.Members[0].Token, nil))
		if num(t, d["total"]) != 0 || len(list(t, d["reports"])) != 0 {
			t.Fatalf("another member's reports = %v", d)
		}
		e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/reports/my?limit=0", reporter.Token, nil))
		e.fail(401, "UNAUTHORIZED", e.request("GET", "/v1/reports/my", "", nil))
	})
}

func TestReportErrors(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		poll := e.newPoll(c)
		u := c.Members[1]
		stranger := e.login()
		memberID := e.members(c)[2]["id"].(string)
		selfID := e.members(c)[1]["id"].(string)
		post := func(tok string, body any) resp { return e.request("POST", "/v1/reports", tok, body) }
		cases := []struct {
			body        any
			status      int
			code, field string
		}{
			{map[string]any{"target_id": c.ID, "reason": "spam"}, 400, "MISSING_REQUIRED_FIELD", "type"},
			{map[string]any{"type": "comment", "target_id": c.ID, "reason": "spam"}, 400, "VALIDATION_ERROR", "type"},
			{map[string]any{"type": "circle", "reason": "spam"}, 400, "MISSING_REQUIRED_FIELD", "target_id"},
			{map[string]any{"type": "circle", "target_id": "42", "reason": "spam"}, 400, "VALIDATION_ERROR", "target_id"},
			{map[string]any{"type": "circle", "target_id": c.ID}, 400, "MISSING_REQUIRED_FIELD", "reason"},
			{map[string]any{"type": "circle", "target_id": c.ID, "reason": "boring"}, 400, "VALIDATION_ERROR", "reason"},
			{map[string]any{"type": "circle", "target_id": c.ID, "reason": "spam", "description": strings.Repeat("가", 1001)}, 400, "VALIDATION_ERROR", "description"},
			{map[string]any{"type": "circle", "target_id": c.ID, "reason": "spam", "description": "a\x00b"}, 400, "VALIDATION_ERROR", "description"},
			{map[string]any{"type": "circle", "target_id": c.ID, "reason": "spam", "extra": 1}, 400, "VALIDATION_ERROR", "extra"},
			{map[string]any{"type": 1, "target_id": c.ID, "reason": "spam"}, 400, "INVALID_FORMAT", "type"},
			{map[string]any{"type": "user", "target_id": selfID, "reason": "spam"}, 404, "NOT_FOUND", ""},
			{map[string]any{"type": "user", "target_id": unknownID, "reason": "spam"}, 404, "NOT_FOUND", ""},
		}
		for i, tc := range cases {
			errObj := e.fail(tc.status, tc.code, post(u.Token, tc.body))
			if tc.field != "" {
				details, _ := errObj["details"].(map[string]any)
				if details["field"] != tc.field {
					t.Fatalf("case %d: details %v, want field %s", i, details, tc.field)
				}
			}
		}
		// A description of exactly 1000 characters is fine.
		e.must(201, post(u.Token, map[string]any{"type": "circle", "target_id": c.ID, "reason": "spam", "description": strings.Repeat("가", 1000)}))

		// Outsiders get the same answer as for ids that do not exist.
		e.fail(404, "POLL_NOT_FOUND", post(stranger.Token, map[string]any{"type": "poll", "target_id": poll["id"], "reason": "spam"}))
		e.fail(404, "POLL_NOT_FOUND", post(stranger.Token, map[string]any{"type": "poll", "target_id": unknownID, "reason": "spam"}))
		e.fail(404, "CIRCLE_NOT_FOUND", post(stranger.Token, map[string]any{"type": "circle", "target_id": c.ID, "reason": "spam"}))
		e.fail(404, "NOT_FOUND", post(stranger.Token, map[string]any{"type": "user", "target_id": memberID, "reason": "spam"}))
		e.fail(401, "UNAUTHORIZED", post("", map[string]any{"type": "circle", "target_id": c.ID, "reason": "spam"}))
		e.fail(415, "UNSUPPORTED_MEDIA_TYPE", e.request("POST", "/v1/reports", u.Token, `{"type":"circle"}`, "Content-Type", "text/plain"))
	})
}

func TestStats(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		poll := e.newPoll(c)
		ids, members := options(poll)
		voter := c.Members[1]
		for i, m := range members {
			if m != e.members(c)[1]["id"] {
				e.vote(voter, poll["id"].(string), ids[i])
				break
			}
		}
		d := e.must(200, e.request("GET", "/v1/stats/user", voter.Token, nil))
		if num(t, d["polls_created"]) != 0 || num(t, d["votes_cast"]) != 1 || num(t, d["circles_joined"]) != 1 || num(t, d["streak_days"]) != 1 {
			t.Fatalf("voter stats = %v", d)
		}
		d = e.must(200, e.request("GET", "/v1/stats/user", c.Members[0].Token, nil))
		if num(t, d["polls_created"]) != 1 || num(t, d["votes_cast"]) != 0 || num(t, d["streak_days"]) != 1 {
			t.Fatalf("creator stats = %v", d)
		}

		d = e.must(200, e.request("GET", "/v1/stats/circles/"+c.ID, voter.Token, nil))
		if d["circle_id"] != c.ID || num(t, d["total_polls"]) != 1 || num(t, d["total_votes"]) != 1 ||
			num(t, d["closed_polls"]) != 0 || num(t, d["participation_rate"]) != 0 {
			t.Fatalf("circle stats = %v", d)
		}
		days := list(t, d["daily"])
		if len(days) != 7 || num(t, days[6]["polls"]) != 1 || num(t, days[6]["votes"]) != 1 {
			t.Fatalf("daily = %v", days)
		}
		if _, err := parseDate(days[6]["date"]); err != nil {
			t.Fatal(err)
		}
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("GET", "/v1/stats/circles/"+c.ID, e.login().Token, nil))
		e.fail(404, "CIRCLE_NOT_FOUND", e.request("GET", "/v1/stats/circles/"+unknownID, voter.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/stats/circles/nope", voter.Token, nil))
		e.fail(401, "UNAUTHORIZED", e.request("GET", "/v1/stats/user", "", nil))
	})
}

func parseDate(v any) (string, error) {
	s, _ := v.(string)
	_, err := time.Parse(time.DateOnly, s)
	return s, err
}
