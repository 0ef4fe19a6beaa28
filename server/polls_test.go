package server_test

import (
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"circly/internal/testdb"
)

func TestCreatePoll(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(4)
		creator := c.Members[0]
		ms := e.members(c)
		tpl := e.must(200, e.request("GET", "/v1/templates/"+templateID(5), creator.Token, nil))
		before := e.now()
		poll := e.newPollBy(creator, c, templateID(5), 3)

		if poll["circle_id"] != c.ID || poll["template_id"] != templateID(5) || poll["question_text"] != tpl["question_text"] ||
			poll["creator_member_id"] != ms[0]["id"] || num(t, poll["total_votes"]) != 0 || num(t, poll["version"]) != 0 ||
			poll["is_closed"] != false || poll["user_voted"] != false {
			t.Fatalf("poll %v", poll)
		}
		if dl := parseTime(t, poll["deadline"]).Sub(before); dl < 3*time.Hour-time.Minute || dl > 3*time.Hour+time.Minute {
			t.Fatalf("deadline in %s, want 3h", dl)
		}
		parseTime(t, poll["created_at"])
		opts := list(t, poll["options"])
		if len(opts) != 3 {
			t.Fatalf("options %v", opts)
		}
		for i, o := range opts {
			m := ms[i+1]
			if o["member_id"] != m["id"] || o["member_nickname"] != m["nickname"] || num(t, o["display_order"]) != float64(i+1) ||
				o["is_self"] != false || num(t, o["vote_count"]) != 0 || len(o["id"].(string)) != 36 {
				t.Fatalf("option %d = %v, want member %v", i, o, m)
			}
		}
		// The answer is the same object as GET /v1/polls/{id}.
		got := e.must(200, e.request("GET", "/v1/polls/"+poll["id"].(string), creator.Token, nil))
		if !reflect.DeepEqual(got, poll) {
			t.Fatalf("GET %v\ncreate %v", got, poll)
		}
		// A member sees their own option marked.
		seen := e.must(200, e.request("GET", "/v1/polls/"+poll["id"].(string), c.Members[2].Token, nil))
		for i, o := range list(t, seen["options"]) {
			if o["is_self"] != (i == 1) {
				t.Fatalf("member 2's view: %v", seen["options"])
			}
		}
		// The template's usage went up.
		if d := e.must(200, e.request("GET", "/v1/templates/"+templateID(5), creator.Token, nil)); num(t, d["usage_count"]) != 1 {
			t.Fatalf("usage_count %v", d["usage_count"])
		}
		// Any member may open a poll; the creator is then an option.
		p2 := e.newPollBy(c.Members[1], c, firstTemplate, 1)
		o2 := list(t, p2["options"])
		if len(o2) != 3 || o2[0]["member_id"] != ms[0]["id"] || o2[1]["member_id"] != ms[2]["id"] || p2["creator_member_id"] != ms[1]["id"] {
			t.Fatalf("poll by member 1: %v", p2)
		}
		// A deadline instead of a duration.
		dl := e.now().Add(2 * time.Hour).Truncate(time.Second)
		p3 := e.must(201, e.request("POST", "/v1/polls", creator.Token, map[string]any{
			"circle_id": c.ID, "template_id": firstTemplate, "deadline": dl.Format(time.RFC3339)}))
		if !parseTime(t, p3["deadline"]).Equal(dl) {
			t.Fatalf("deadline %v, want %v", p3["deadline"], dl)
		}
	})
}

func TestCreatePollValidation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		u := c.Members[0]
		now := e.now()
		body := func(kv ...any) map[string]any {
			b := map[string]any{"circle_id": c.ID, "template_id": firstTemplate}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(b, kv[i].(string))
					continue
				}
				b[kv[i].(string)] = kv[i+1]
			}
			return b
		}
		cases := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"duration 2", body("duration_hours", 2), 400, "VALIDATION_ERROR"},
			{"duration 0", body("duration_hours", 0), 400, "VALIDATION_ERROR"},
			{"duration 48", body("duration_hours", 48), 400, "VALIDATION_ERROR"},
			{"duration -1", body("duration_hours", -1), 400, "VALIDATION_ERROR"},
			{"duration string", body("duration_hours", "1"), 400, "INVALID_FORMAT"},
			{"no duration or deadline", body(), 400, "MISSING_REQUIRED_FIELD"},
			{"both", body("duration_hours", 1, "deadline", now.Add(time.Hour).Format(time.RFC3339)), 400, "VALIDATION_ERROR"},
			{"deadline in 1 minute", body("deadline", now.Add(time.Minute).Format(time.RFC3339)), 400, "VALIDATION_ERROR"},
			{"deadline in 4m30s", body("deadline", now.Add(4*time.Minute+30*time.Second).Format(time.RFC3339)), 400, "VALIDATION_ERROR"},
			{"deadline in 24h01m", body("deadline", now.Add(24*time.Hour+time.Minute).Format(time.RFC3339)), 400, "VALIDATION_ERROR"},
			{"deadline in the past", body("deadline", now.Add(-time.Hour).Format(time.RFC3339)), 400, "VALIDATION_ERROR"},
			{"deadline in 25 hours", body("deadline", now.Add(25*time.Hour).Format(time.RFC3339)), 400, "VALIDATION_ERROR"},
			{"deadline not RFC 3339", body("deadline", "tomorrow"), 400, "INVALID_FORMAT"},
			{"deadline without zone", body("deadline", now.Add(time.Hour).Format("2006-01-02T15:04:05")), 400, "INVALID_FORMAT"},
			{"no circle", body("circle_id", nil, "duration_hours", 1), 400, "MISSING_REQUIRED_FIELD"},
			{"no template", body("template_id", nil, "duration_hours", 1), 400, "MISSING_REQUIRED_FIELD"},
			{"circle not a UUID", body("circle_id", "abc", "duration_hours", 1), 400, "VALIDATION_ERROR"},
			{"template not a UUID", body("template_id", "1", "duration_hours", 1), 400, "VALIDATION_ERROR"},
			{"unknown template", body("template_id", unknownID, "duration_hours", 1), 404, "TEMPLATE_NOT_FOUND"},
			{"unknown circle", body("circle_id", unknownID, "duration_hours", 1), 404, "CIRCLE_NOT_FOUND"},
			{"unknown field", body("duration_hours", 1, "anonymous", false), 400, "VALIDATION_ERROR"},
		}
		for _, x := range cases {
			t.Run(x.name, func(t *testing.T) {
				checkError(t, x.status, x.code, e.request("POST", "/v1/polls", u.Token, x.body))
			})
		}
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("POST", "/v1/polls", e.login().Token, body("duration_hours", 1)))
		// Every allowed duration works; deadlines at the edges of the window too.
		for _, h := range []int{1, 3, 6} {
			e.must(201, e.request("POST", "/v1/polls", u.Token, body("duration_hours", h)))
		}
		// Nothing rejected above was created (the three polls are the open limit).
		l := e.must(200, e.request("GET", "/v1/polls?circle_id="+c.ID, u.Token, nil))
		if num(t, l["total"]) != 3 {
			t.Fatalf("polls %v", l["total"])
		}
		if d := e.must(200, e.request("GET", "/v1/templates/"+firstTemplate, u.Token, nil)); num(t, d["usage_count"]) != 3 {
			t.Fatalf("usage_count %v after 3 polls", d["usage_count"])
		}
	})
}

func TestPollDeadlineWindowEdges(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0], noPollLimits())
	c := e.newCircle(3)
	for _, d := range []time.Duration{5 * time.Minute, 6 * time.Minute, 24 * time.Hour, 23*time.Hour + 59*time.Minute} {
		e.must(201, e.request("POST", "/v1/polls", c.Members[0].Token, map[string]any{
			"circle_id": c.ID, "template_id": firstTemplate, "deadline": e.now().Add(d).Format(time.RFC3339)}))
	}
	e.must(201, e.request("POST", "/v1/polls", c.Members[0].Token, map[string]any{
		"circle_id": c.ID, "template_id": firstTemplate, "duration_hours": 24}))
}

func TestCircleTooSmall(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(2)
		e.fail(400, "CIRCLE_TOO_SMALL", e.request("POST", "/v1/polls", c.Members[0].Token, map[string]any{
			"circle_id": c.ID, "template_id": firstTemplate, "duration_hours": 1}))
		c.Members = append(c.Members, e.join(c, "m2"))
		e.newPoll(c)
		// Back to two members: too small again.
		e.must(200, e.request("POST", "/v1/circles/"+c.ID+"/leave", c.Members[2].Token, nil))
		e.fail(400, "CIRCLE_TOO_SMALL", e.request("POST", "/v1/polls", c.Members[1].Token, map[string]any{
			"circle_id": c.ID, "template_id": firstTemplate, "duration_hours": 1}))
	})
}

func TestPollLimits(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		a := e.newCircle(3)
		u := a.Members[0]
		for range 3 {
			e.newPoll(a)
		}
		// The fourth open poll of a circle, whoever opens it.
		errObj := e.fail(409, "TOO_MANY_ACTIVE_POLLS", e.request("POST", "/v1/polls", a.Members[1].Token, map[string]any{
			"circle_id": a.ID, "template_id": firstTemplate, "duration_hours": 1}))
		if d, _ := errObj["details"].(map[string]any); d == nil || num(t, d["limit"]) != 3 {
			t.Fatalf("details %v", errObj)
		}
		// Another circle: the user's fourth and fifth polls of the day are fine, the sixth is not.
		b := e.newCircleBy(u, 3)
		e.newPollBy(u, b, firstTemplate, 1)
		fifth := e.newPollBy(u, b, firstTemplate, 1)
		r := e.request("POST", "/v1/polls", u.Token, map[string]any{"circle_id": b.ID, "template_id": firstTemplate, "duration_hours": 1})
		e.fail(429, "TOO_MANY_POLLS", r)
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 24*3600+1 {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
		for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
			if r.Header.Get(h) == "" {
				t.Fatalf("429 without %s: %v", h, r.Header)
			}
		}
		if r.Header.Get("X-RateLimit-Limit") != "5" || r.Header.Get("X-RateLimit-Remaining") != "0" {
			t.Fatalf("rate limit headers %v", r.Header)
		}
		reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
		if want := time.Now().Unix() + int64(ra); err != nil || reset < want-5 || reset > want+5 {
			t.Fatalf("X-RateLimit-Reset %q, want about %d (Unix seconds)", r.Header.Get("X-RateLimit-Reset"), want)
		}
		// Deleting a poll does not give its place in the day's quota back.
		e.must(200, e.request("DELETE", "/v1/polls/"+fifth["id"].(string), u.Token, nil))
		e.fail(429, "TOO_MANY_POLLS", e.request("POST", "/v1/polls", u.Token, map[string]any{"circle_id": b.ID, "template_id": firstTemplate, "duration_hours": 1}))
		// Other users are not limited by u's polls.
		e.newPollBy(b.Members[1], b, firstTemplate, 1)
		// The limit is per local day: after Retry-After u may open polls again (the one-hour
		// polls of the day are closed by then too).
		e.advance(max(time.Duration(ra+1)*time.Second, 2*time.Hour))
		e.newPollBy(u, b, firstTemplate, 1)
	})
}

func TestGetPollErrors(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		pid := e.newPoll(c)["id"].(string)
		stranger := e.login()
		for _, path := range []string{"/v1/polls/" + pid, "/v1/polls/" + pid + "/results"} {
			e.fail(403, "NOT_CIRCLE_MEMBER", e.request("GET", path, stranger.Token, nil))
		}
		e.fail(404, "POLL_NOT_FOUND", e.request("GET", "/v1/polls/"+unknownID, c.Members[0].Token, nil))
		e.fail(404, "POLL_NOT_FOUND", e.request("GET", "/v1/polls/"+unknownID+"/results", c.Members[0].Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/polls/xyz", c.Members[0].Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/polls/xyz/results", c.Members[0].Token, nil))
		// A member who left loses access.
		e.must(200, e.request("POST", "/v1/circles/"+c.ID+"/leave", c.Members[2].Token, nil))
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("GET", "/v1/polls/"+pid, c.Members[2].Token, nil))
	})
}

func TestListPolls(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		a := e.newCircle(3)
		u, voter := a.Members[0], a.Members[1]
		short := e.newPollBy(u, a, firstTemplate, 1)
		long := e.newPollBy(u, a, firstTemplate, 6)
		b := e.newCircleBy(u, 3)
		other := e.newPollBy(u, b, firstTemplate, 3)
		e.newPoll(e.newCircle(3)) // someone else's circle

		ids, _ := options(long)
		e.vote(voter, long["id"].(string), ids[1])

		all := e.must(200, e.request("GET", "/v1/polls", u.Token, nil))
		ps := list(t, all["polls"])
		if num(t, all["total"]) != 3 || len(ps) != 3 || num(t, all["limit"]) != 20 || num(t, all["offset"]) != 0 {
			t.Fatalf("all %v", all)
		}
		// Newest first.
		if ps[0]["id"] != other["id"] || ps[1]["id"] != long["id"] || ps[2]["id"] != short["id"] {
			t.Fatalf("order %v", ps)
		}
		for _, p := range ps {
			for _, k := range []string{"id", "circle_id", "question_text", "deadline", "total_votes", "is_closed", "user_voted", "version"} {
				if _, ok := p[k]; !ok {
					t.Fatalf("listed poll without %s: %v", k, p)
				}
			}
			if _, ok := p["options"]; ok {
				t.Fatalf("listed poll with options: %v", p)
			}
		}
		if ps[1]["user_voted"] != false || num(t, ps[1]["total_votes"]) != 1 {
			t.Fatalf("creator's view of the voted poll %v", ps[1])
		}
		vl := e.must(200, e.request("GET", "/v1/polls?circle_id="+a.ID, voter.Token, nil))
		for _, p := range list(t, vl["polls"]) {
			if p["user_voted"] != (p["id"] == long["id"]) {
				t.Fatalf("voter's user_voted %v", p)
			}
		}
		if num(t, vl["total"]) != 2 {
			t.Fatalf("voter sees %v", vl)
		}

		byCircle := e.must(200, e.request("GET", "/v1/polls?circle_id="+b.ID, u.Token, nil))
		if bs := list(t, byCircle["polls"]); len(bs) != 1 || bs[0]["id"] != other["id"] || num(t, byCircle["total"]) != 1 {
			t.Fatalf("circle filter %v", byCircle)
		}
		paged := e.must(200, e.request("GET", "/v1/polls?limit=2&offset=1", u.Token, nil))
		if pp := list(t, paged["polls"]); len(pp) != 2 || pp[0]["id"] != long["id"] || num(t, paged["total"]) != 3 {
			t.Fatalf("page %v", paged)
		}

		// Two hours later the one-hour poll is closed.
		e.advance(2 * time.Hour)
		act := e.must(200, e.request("GET", "/v1/polls?status=active", u.Token, nil))
		cl := e.must(200, e.request("GET", "/v1/polls?status=closed", u.Token, nil))
		if as := list(t, act["polls"]); len(as) != 2 || num(t, act["total"]) != 2 {
			t.Fatalf("active %v", act)
		}
		cs := list(t, cl["polls"])
		if len(cs) != 1 || cs[0]["id"] != short["id"] || cs[0]["is_closed"] != true || num(t, cl["total"]) != 1 {
			t.Fatalf("closed %v", cl)
		}
		if as := list(t, e.must(200, e.request("GET", "/v1/polls?status=active&circle_id="+a.ID, u.Token, nil))["polls"]); len(as) != 1 || as[0]["id"] != long["id"] {
			t.Fatalf("active in circle a %v", as)
		}
		if d := e.must(200, e.request("GET", "/v1/polls?status=all", u.Token, nil)); num(t, d["total"]) != 3 {
			t.Fatalf("all %v", d)
		}

		for _, q := range []string{"status=open", "status=ACTIVE", "circle_id=abc", "limit=0", "limit=-1", "limit=z", "offset=-1", "offset=1000001"} {
			checkError(t, 400, "VALIDATION_ERROR", e.request("GET", "/v1/polls?"+q, u.Token, nil))
		}
		if d := e.must(200, e.request("GET", "/v1/polls?limit=1000", u.Token, nil)); num(t, d["limit"]) != 100 {
			t.Fatalf("limit %v", d["limit"])
		}
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("GET", "/v1/polls?circle_id="+a.ID, e.login().Token, nil))
		e.fail(404, "CIRCLE_NOT_FOUND", e.request("GET", "/v1/polls?circle_id="+unknownID, u.Token, nil))
	})
}

func TestUpdatePoll(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(4)
		creator := c.Members[0]
		poll := e.newPoll(c)
		pid := poll["id"].(string)
		dl := e.now().Add(5 * time.Hour).Truncate(time.Second)
		d := e.must(200, e.request("PUT", "/v1/polls/"+pid, creator.Token, map[string]any{"deadline": dl.Format(time.RFC3339)}))
		if !parseTime(t, d["deadline"]).Equal(dl) || d["id"] != pid || len(list(t, d["options"])) != 3 {
			t.Fatalf("update %v", d)
		}
		if g := e.must(200, e.request("GET", "/v1/polls/"+pid, c.Members[1].Token, nil)); !parseTime(t, g["deadline"]).Equal(dl) {
			t.Fatalf("GET after update %v", g["deadline"])
		}
		body := map[string]any{"deadline": e.now().Add(2 * time.Hour).Format(time.RFC3339)}
		e.fail(403, "NOT_POLL_CREATOR", e.request("PUT", "/v1/polls/"+pid, c.Members[1].Token, body))
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("PUT", "/v1/polls/"+pid, e.login().Token, body))
		e.fail(404, "POLL_NOT_FOUND", e.request("PUT", "/v1/polls/"+unknownID, creator.Token, body))
		e.fail(400, "VALIDATION_ERROR", e.request("PUT", "/v1/polls/x", creator.Token, body))
		e.fail(400, "MISSING_REQUIRED_FIELD", e.request("PUT", "/v1/polls/"+pid, creator.Token, map[string]any{}))
		e.fail(400, "INVALID_FORMAT", e.request("PUT", "/v1/polls/"+pid, creator.Token, map[string]any{"deadline": "soon"}))
		e.fail(400, "VALIDATION_ERROR", e.request("PUT", "/v1/polls/"+pid, creator.Token, map[string]any{"deadline": e.now().Add(2 * time.Minute).Format(time.RFC3339)}))
		e.fail(400, "VALIDATION_ERROR", e.request("PUT", "/v1/polls/"+pid, creator.Token, map[string]any{"deadline": e.now().Add(30 * time.Hour).Format(time.RFC3339)}))
		e.fail(400, "VALIDATION_ERROR", e.request("PUT", "/v1/polls/"+pid, creator.Token, map[string]any{"duration_hours": 3}))

		ids, _ := options(poll)
		e.vote(c.Members[2], pid, ids[0])
		e.fail(409, "POLL_HAS_VOTES", e.request("PUT", "/v1/polls/"+pid, creator.Token, body))

		// A closed poll cannot be moved either.
		other := e.newPoll(c)
		e.advance(2 * time.Hour)
		r := e.request("PUT", "/v1/polls/"+other["id"].(string), creator.Token, map[string]any{"deadline": e.now().Add(2 * time.Hour).Format(time.RFC3339)})
		e.fail(409, "POLL_CLOSED", r)
	})
}

func TestDeletePoll(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		creator := c.Members[0]
		pid := e.newPoll(c)["id"].(string)
		e.fail(403, "NOT_POLL_CREATOR", e.request("DELETE", "/v1/polls/"+pid, c.Members[1].Token, nil))
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("DELETE", "/v1/polls/"+pid, e.login().Token, nil))
		e.fail(404, "POLL_NOT_FOUND", e.request("DELETE", "/v1/polls/"+unknownID, creator.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("DELETE", "/v1/polls/1", creator.Token, nil))
		d := e.must(200, e.request("DELETE", "/v1/polls/"+pid, creator.Token, nil))
		if d["id"] != pid {
			t.Fatalf("delete answer %v", d)
		}
		e.fail(404, "POLL_NOT_FOUND", e.request("GET", "/v1/polls/"+pid, creator.Token, nil))
		e.fail(404, "POLL_NOT_FOUND", e.request("DELETE", "/v1/polls/"+pid, creator.Token, nil))
		if l := e.must(200, e.request("GET", "/v1/polls", creator.Token, nil)); num(t, l["total"]) != 0 {
			t.Fatalf("deleted poll listed: %v", l)
		}
		// More than 24 hours after its creation a poll can no longer be deleted.
		old := e.newPoll(c)["id"].(string)
		e.advance(25 * time.Hour)
		e.fail(403, "FORBIDDEN", e.request("DELETE", "/v1/polls/"+old, creator.Token, nil))
		e.must(200, e.request("GET", "/v1/polls/"+old, creator.Token, nil))
	})
}

// TestPollsOfDeletedCircle checks that a deleted circle takes its polls out of every answer.
func TestPollsOfDeletedCircle(t *testing.T) {
	e := newEnv(t, testdb.Dialects[1])
	c := e.newCircle(3)
	poll := e.newPoll(c)
	pid := poll["id"].(string)
	ids, _ := options(poll)
	e.must(200, e.request("DELETE", "/v1/circles/"+c.ID, c.Members[0].Token, nil))
	e.fail(404, "POLL_NOT_FOUND", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[1].Token, map[string]any{"option_id": ids[1]}))
	e.fail(404, "POLL_NOT_FOUND", e.request("GET", "/v1/polls/"+pid+"/results", c.Members[1].Token, nil))
	if l := e.must(200, e.request("GET", "/v1/polls", c.Members[1].Token, nil)); num(t, l["total"]) != 0 {
		t.Fatalf("polls of a deleted circle listed: %v", l)
	}
}

// TestConcurrentPollCreation: the open-poll limit holds when members open polls at once.
func TestConcurrentPollCreation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(8)
		results := make([]resp, len(c.Members))
		errs := make([]error, len(c.Members))
		var wg sync.WaitGroup
		for i, u := range c.Members {
			wg.Go(func() {
				results[i], errs[i] = e.send("POST", "/v1/polls", u.Token, map[string]any{
					"circle_id": c.ID, "template_id": firstTemplate, "duration_hours": 1})
			})
		}
		wg.Wait()
		created := 0
		for i, r := range results {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if r.Status == 201 {
				created++
				continue
			}
			checkError(t, 409, "TOO_MANY_ACTIVE_POLLS", r)
		}
		if created != 3 {
			t.Fatalf("%d polls opened at once, want the limit of 3", created)
		}
		if d := e.must(200, e.request("GET", "/v1/polls?status=active&circle_id="+c.ID, c.Members[0].Token, nil)); num(t, d["total"]) != 3 {
			t.Fatalf("open polls %v", d["total"])
		}
	})
}
