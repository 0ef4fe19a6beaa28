package server_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"circly"
	"circly/config"
	"circly/internal/testdb"
)

func TestCreateCircle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		u := e.login()
		before := e.now()
		d := e.must(201, e.request("POST", "/v1/circles", u.Token, map[string]any{"name": "  2학년 3반  ", "nickname": "민지"}))
		if d["name"] != "2학년 3반" || d["role"] != "creator" || num(t, d["member_count"]) != 1 ||
			num(t, d["max_members"]) != 50 || num(t, d["active_polls"]) != 0 {
			t.Fatalf("circle %v", d)
		}
		code, _ := d["invite_code"].(string)
		if len(code) != 6 || strings.Trim(code, circly.InviteAlphabet) != "" {
			t.Fatalf("invite_code %q", code)
		}
		link, _ := d["invite_link_id"].(string)
		if d["invite_link"] != "https://circly.example/join/"+link || len(link) != 36 {
			t.Fatalf("invite_link %v for id %v", d["invite_link"], link)
		}
		exp := parseTime(t, d["invite_expires_at"])
		if dt := exp.Sub(before); dt < 24*time.Hour-time.Minute || dt > 24*time.Hour+time.Minute {
			t.Fatalf("invite expires in %s", dt)
		}
		parseTime(t, d["created_at"])

		// max_members 10 and 25 are allowed too.
		for _, n := range []int{10, 25} {
			c := e.must(201, e.request("POST", "/v1/circles", u.Token, map[string]any{"name": "c", "nickname": "n", "max_members": n}))
			if num(t, c["max_members"]) != float64(n) {
				t.Fatalf("max_members %v", c["max_members"])
			}
		}
		// The creator is its first member, with role creator.
		det := e.must(200, e.request("GET", "/v1/circles/"+d["id"].(string), u.Token, nil))
		ms := list(t, det["members"])
		if len(ms) != 1 || ms[0]["role"] != "creator" || ms[0]["nickname"] != "민지" || ms[0]["is_self"] != true {
			t.Fatalf("members %v", ms)
		}
	}, withConfig(func(c *config.Config) { c.PublicURL = "https://circly.example" }))
}

func TestCreateCircleValidation(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	cases := []struct {
		name string
		body any
		code string
	}{
		{"no name", map[string]any{"nickname": "n"}, "MISSING_REQUIRED_FIELD"},
		{"no nickname", map[string]any{"name": "c"}, "MISSING_REQUIRED_FIELD"},
		{"empty name", map[string]any{"name": " ", "nickname": "n"}, "VALIDATION_ERROR"},
		{"long name", map[string]any{"name": strings.Repeat("가", 101), "nickname": "n"}, "VALIDATION_ERROR"},
		{"long nickname", map[string]any{"name": "c", "nickname": strings.Repeat("n", 21)}, "VALIDATION_ERROR"},
		{"size 30", map[string]any{"name": "c", "nickname": "n", "max_members": 30}, "VALIDATION_ERROR"},
		{"size 0", map[string]any{"name": "c", "nickname": "n", "max_members": 0}, "VALIDATION_ERROR"},
		{"size string", map[string]any{"name": "c", "nickname": "n", "max_members": "50"}, "INVALID_FORMAT"},
		{"size fraction", map[string]any{"name": "c", "nickname": "n", "max_members": 10.5}, "INVALID_FORMAT"},
		{"unknown field", map[string]any{"name": "c", "nickname": "n", "invite_code": "AAAAAA"}, "VALIDATION_ERROR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkError(t, 400, c.code, e.request("POST", "/v1/circles", u.Token, c.body))
		})
	}
	// 100 characters of name and 20 of nickname are fine.
	e.must(201, e.request("POST", "/v1/circles", u.Token, map[string]any{"name": strings.Repeat("가", 100), "nickname": strings.Repeat("나", 20)}))
	d := e.must(200, e.request("GET", "/v1/circles", u.Token, nil))
	if num(t, d["total"]) != 1 {
		t.Fatalf("rejected circles were created: %v", d)
	}
}

func TestListCircles(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		u := e.login()
		empty := e.must(200, e.request("GET", "/v1/circles", u.Token, nil))
		if len(list(t, empty["circles"])) != 0 || num(t, empty["total"]) != 0 || num(t, empty["limit"]) != 20 || num(t, empty["offset"]) != 0 {
			t.Fatalf("empty list %v", empty)
		}
		mine := e.newCircleBy(u, 3)
		for i := range 2 {
			e.must(201, e.request("POST", "/v1/circles", u.Token, map[string]any{"name": fmt.Sprintf("c%d", i), "nickname": "n"}))
		}
		other := e.newCircle(2)
		e.must(200, e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_code": other.Code, "nickname": "guest"}))
		e.newPoll(mine)

		all := e.must(200, e.request("GET", "/v1/circles", u.Token, nil))
		cs := list(t, all["circles"])
		if num(t, all["total"]) != 4 || len(cs) != 4 {
			t.Fatalf("list %v", all)
		}
		byID := map[string]map[string]any{}
		for _, c := range cs {
			for _, k := range []string{"id", "name", "member_count", "max_members", "active_polls", "role", "created_at"} {
				if _, ok := c[k]; !ok {
					t.Fatalf("circle without %s: %v", k, c)
				}
			}
			byID[c["id"].(string)] = c
		}
		if c := byID[mine.ID]; num(t, c["member_count"]) != 3 || num(t, c["active_polls"]) != 1 || c["role"] != "creator" || c["invite_code"] != mine.Code || c["invite_link"] == nil {
			t.Fatalf("own circle in list %v", c)
		}
		if c := byID[other.ID]; c["role"] != "member" || c["invite_code"] != nil || c["invite_link"] != nil {
			t.Fatalf("joined circle in list %v", c)
		}

		p1 := e.must(200, e.request("GET", "/v1/circles?limit=3", u.Token, nil))
		p2 := e.must(200, e.request("GET", "/v1/circles?limit=3&offset=3", u.Token, nil))
		if len(list(t, p1["circles"])) != 3 || len(list(t, p2["circles"])) != 1 ||
			num(t, p1["total"]) != 4 || num(t, p2["total"]) != 4 || num(t, p2["limit"]) != 3 || num(t, p2["offset"]) != 3 {
			t.Fatalf("pages %v / %v", p1, p2)
		}
		seen := map[string]bool{}
		for _, c := range append(list(t, p1["circles"]), list(t, p2["circles"])...) {
			seen[c["id"].(string)] = true
		}
		if len(seen) != 4 {
			t.Fatalf("pages overlap: %v", seen)
		}
		past := e.must(200, e.request("GET", "/v1/circles?offset=10", u.Token, nil))
		if len(list(t, past["circles"])) != 0 || num(t, past["total"]) != 4 {
			t.Fatalf("past the end %v", past)
		}
		if d := e.must(200, e.request("GET", "/v1/circles?limit=500", u.Token, nil)); num(t, d["limit"]) != 100 {
			t.Fatalf("limit 500 answered with limit %v, want it clamped to 100", d["limit"])
		}
		if d := e.must(200, e.request("GET", "/v1/circles?limit=100", u.Token, nil)); num(t, d["limit"]) != 100 {
			t.Fatalf("limit %v", d["limit"])
		}
		for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "limit=1.5", "offset=-1", "offset=x", "offset=1000001"} {
			checkError(t, 400, "VALIDATION_ERROR", e.request("GET", "/v1/circles?"+q, u.Token, nil))
		}
		// Another user sees none of them.
		if d := e.must(200, e.request("GET", "/v1/circles", e.login().Token, nil)); num(t, d["total"]) != 0 {
			t.Fatalf("stranger sees %v", d)
		}
	})
}

func TestGetCircle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		creator, member := c.Members[0], c.Members[1]
		d := e.must(200, e.request("GET", "/v1/circles/"+c.ID, creator.Token, nil))
		if d["invite_code"] != c.Code || d["invite_link"] == nil || d["invite_link_id"] == nil || d["invite_expires_at"] == nil {
			t.Fatalf("creator does not see the invite: %v", d)
		}
		ms := list(t, d["members"])
		if len(ms) != 3 {
			t.Fatalf("members %v", ms)
		}
		for i, m := range ms {
			if m["nickname"] != fmt.Sprintf("m%d", i) {
				t.Fatalf("members not in join order: %v", ms)
			}
			if m["is_self"] != (i == 0) {
				t.Fatalf("is_self for the creator: %v", ms)
			}
			role := "member"
			if i == 0 {
				role = "creator"
			}
			if m["role"] != role {
				t.Fatalf("role %v", m)
			}
			parseTime(t, m["joined_at"])
			if len(m["id"].(string)) != 36 {
				t.Fatalf("member id %v", m["id"])
			}
		}

		r := e.request("GET", "/v1/circles/"+c.ID, member.Token, nil)
		d = e.must(200, r)
		for _, k := range []string{"invite_code", "invite_link", "invite_link_id", "invite_expires_at"} {
			if _, ok := d[k]; ok {
				t.Fatalf("member sees %s: %v", k, d)
			}
		}
		if d["role"] != "member" {
			t.Fatalf("role %v", d["role"])
		}
		for i, m := range list(t, d["members"]) {
			if m["is_self"] != (i == 1) {
				t.Fatalf("is_self for member 1: %v", d["members"])
			}
		}
		// User ids of members never show.
		for _, u := range c.Members {
			if strings.Contains(string(r.Raw), u.ID) {
				t.Fatalf("user id %s in circle detail: %s", u.ID, r.Raw)
			}
		}

		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("GET", "/v1/circles/"+c.ID, e.login().Token, nil))
		e.fail(404, "CIRCLE_NOT_FOUND", e.request("GET", "/v1/circles/"+unknownID, creator.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/circles/not-a-uuid", creator.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/circles/"+strings.ReplaceAll(c.ID, "-", ""), creator.Token, nil))
		// Upper-case UUIDs name the same circle.
		e.must(200, e.request("GET", "/v1/circles/"+strings.ToUpper(c.ID), creator.Token, nil))
	})
}

func TestUpdateCircle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		creator, member := c.Members[0], c.Members[1]
		d := e.must(200, e.request("PUT", "/v1/circles/"+c.ID, creator.Token, map[string]any{"name": "New name"}))
		if d["name"] != "New name" || num(t, d["max_members"]) != 50 || d["role"] != "creator" || d["invite_code"] != c.Code {
			t.Fatalf("rename %v", d)
		}
		d = e.must(200, e.request("PUT", "/v1/circles/"+c.ID, creator.Token, map[string]any{"max_members": 10}))
		if num(t, d["max_members"]) != 10 || d["name"] != "New name" {
			t.Fatalf("resize %v", d)
		}
		d = e.must(200, e.request("PUT", "/v1/circles/"+c.ID, creator.Token, map[string]any{"name": "Both", "max_members": 25}))
		if num(t, d["max_members"]) != 25 || d["name"] != "Both" {
			t.Fatalf("both %v", d)
		}
		if g := e.must(200, e.request("GET", "/v1/circles/"+c.ID, member.Token, nil)); g["name"] != "Both" {
			t.Fatalf("member sees %v", g["name"])
		}

		e.fail(403, "NOT_CIRCLE_CREATOR", e.request("PUT", "/v1/circles/"+c.ID, member.Token, map[string]any{"name": "Mine"}))
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("PUT", "/v1/circles/"+c.ID, e.login().Token, map[string]any{"name": "Mine"}))
		e.fail(404, "CIRCLE_NOT_FOUND", e.request("PUT", "/v1/circles/"+unknownID, creator.Token, map[string]any{"name": "x"}))
		e.fail(400, "VALIDATION_ERROR", e.request("PUT", "/v1/circles/nope", creator.Token, map[string]any{"name": "x"}))
		e.fail(400, "VALIDATION_ERROR", e.request("PUT", "/v1/circles/"+c.ID, creator.Token, map[string]any{}))
		e.fail(400, "VALIDATION_ERROR", e.request("PUT", "/v1/circles/"+c.ID, creator.Token, map[string]any{"name": ""}))
		e.fail(400, "VALIDATION_ERROR", e.request("PUT", "/v1/circles/"+c.ID, creator.Token, map[string]any{"max_members": 20}))
		e.fail(400, "VALIDATION_ERROR", e.request("PUT", "/v1/circles/"+c.ID, creator.Token, map[string]any{"name": strings.Repeat("x", 101)}))
		if g := e.must(200, e.request("GET", "/v1/circles/"+c.ID, creator.Token, nil)); g["name"] != "Both" || num(t, g["max_members"]) != 25 {
			t.Fatalf("rejected updates changed the circle: %v", g)
		}
	})
}

// TestShrinkBelowMembers fills a circle with 30 members and tries to make it a circle of 25.
func TestShrinkBelowMembers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(30)
		r := e.request("PUT", "/v1/circles/"+c.ID, c.Members[0].Token, map[string]any{"max_members": 25})
		if r.Status != 409 {
			t.Fatalf("shrink below the member count: %d %s", r.Status, r.Raw)
		}
		e.fail(409, r.Code(), r)
		d := e.must(200, e.request("GET", "/v1/circles/"+c.ID, c.Members[0].Token, nil))
		if num(t, d["max_members"]) != 50 || num(t, d["member_count"]) != 30 {
			t.Fatalf("after a refused shrink: %v", d)
		}
		// A rename in the same request is not applied either.
		e.fail(409, r.Code(), e.request("PUT", "/v1/circles/"+c.ID, c.Members[0].Token, map[string]any{"name": "Renamed", "max_members": 10}))
		if d := e.must(200, e.request("GET", "/v1/circles/"+c.ID, c.Members[0].Token, nil)); d["name"] == "Renamed" {
			t.Fatal("half of a refused update was applied")
		}
	})
}

func TestDeleteCircle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		creator, member := c.Members[0], c.Members[1]
		poll := e.newPoll(c)
		pid := poll["id"].(string)

		e.fail(403, "NOT_CIRCLE_CREATOR", e.request("DELETE", "/v1/circles/"+c.ID, member.Token, nil))
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("DELETE", "/v1/circles/"+c.ID, e.login().Token, nil))
		e.fail(404, "CIRCLE_NOT_FOUND", e.request("DELETE", "/v1/circles/"+unknownID, creator.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("DELETE", "/v1/circles/123", creator.Token, nil))

		d := e.must(200, e.request("DELETE", "/v1/circles/"+c.ID, creator.Token, nil))
		closed, _ := d["closed_poll_ids"].([]any)
		if d["id"] != c.ID || len(closed) != 1 || closed[0] != pid {
			t.Fatalf("delete answer %v", d)
		}
		e.fail(404, "CIRCLE_NOT_FOUND", e.request("GET", "/v1/circles/"+c.ID, creator.Token, nil))
		e.fail(404, "CIRCLE_NOT_FOUND", e.request("GET", "/v1/circles/"+c.ID, member.Token, nil))
		e.fail(404, "CIRCLE_NOT_FOUND", e.request("DELETE", "/v1/circles/"+c.ID, creator.Token, nil))
		if l := e.must(200, e.request("GET", "/v1/circles", member.Token, nil)); num(t, l["total"]) != 0 {
			t.Fatalf("deleted circle still listed: %v", l)
		}
		// Its invite is dead and its polls are gone from view.
		e.fail(404, "INVITE_NOT_FOUND", e.request("POST", "/v1/circles/join", e.login().Token, map[string]any{"invite_code": c.Code, "nickname": "late"}))
		e.fail(404, "POLL_NOT_FOUND", e.request("GET", "/v1/polls/"+pid, member.Token, nil))
	})
}

func TestJoinCircle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(1)
		creator := c.Members[0]
		link := e.must(200, e.request("GET", "/v1/circles/"+c.ID, creator.Token, nil))["invite_link_id"].(string)

		// By code, in lower case.
		a := e.login()
		d := e.must(200, e.request("POST", "/v1/circles/join", a.Token, map[string]any{"invite_code": strings.ToLower(c.Code), "nickname": "지호"}))
		circ, _ := d["circle"].(map[string]any)
		mem, _ := d["membership"].(map[string]any)
		if circ["id"] != c.ID || circ["role"] != "member" || num(t, circ["member_count"]) != 2 || circ["invite_code"] != nil {
			t.Fatalf("join circle %v", circ)
		}
		if mem["circle_id"] != c.ID || mem["nickname"] != "지호" || mem["role"] != "member" || len(mem["id"].(string)) != 36 {
			t.Fatalf("join membership %v", mem)
		}
		parseTime(t, mem["joined_at"])

		// By link.
		b := e.login()
		d = e.must(200, e.request("POST", "/v1/circles/join", b.Token, map[string]any{"invite_link_id": link, "nickname": "b"}))
		if d["circle"].(map[string]any)["id"] != c.ID {
			t.Fatalf("join by link %v", d)
		}
		// Code with spaces around it and mixed case.
		e.must(200, e.request("POST", "/v1/circles/join", e.login().Token, map[string]any{"invite_code": " " + c.Code[:3] + strings.ToLower(c.Code[3:]) + " ", "nickname": "c"}))

		ms := e.members(c)
		if len(ms) != 4 || ms[1]["nickname"] != "지호" || ms[1]["id"] != mem["id"] {
			t.Fatalf("members after joins %v", ms)
		}

		x := e.login()
		e.fail(409, "ALREADY_MEMBER", e.request("POST", "/v1/circles/join", a.Token, map[string]any{"invite_code": c.Code, "nickname": "other"}))
		e.fail(409, "ALREADY_MEMBER", e.request("POST", "/v1/circles/join", creator.Token, map[string]any{"invite_link_id": link, "nickname": "again"}))
		e.fail(409, "NICKNAME_TAKEN", e.request("POST", "/v1/circles/join", x.Token, map[string]any{"invite_code": c.Code, "nickname": "m0"}))
		e.fail(409, "NICKNAME_TAKEN", e.request("POST", "/v1/circles/join", x.Token, map[string]any{"invite_code": c.Code, "nickname": " 지호 "}))
		e.fail(404, "INVITE_NOT_FOUND", e.request("POST", "/v1/circles/join", x.Token, map[string]any{"invite_code": otherCode(c.Code), "nickname": "x"}))
		e.fail(404, "INVITE_NOT_FOUND", e.request("POST", "/v1/circles/join", x.Token, map[string]any{"invite_link_id": unknownID, "nickname": "x"}))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/circles/join", x.Token, map[string]any{"invite_code": c.Code, "invite_link_id": link, "nickname": "x"}))
		e.fail(400, "MISSING_REQUIRED_FIELD", e.request("POST", "/v1/circles/join", x.Token, map[string]any{"nickname": "x"}))
		e.fail(400, "MISSING_REQUIRED_FIELD", e.request("POST", "/v1/circles/join", x.Token, map[string]any{"invite_code": c.Code}))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/circles/join", x.Token, map[string]any{"invite_code": c.Code, "nickname": strings.Repeat("n", 21)}))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/circles/join", x.Token, map[string]any{"invite_code": "ABC", "nickname": "x"}))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/circles/join", x.Token, map[string]any{"invite_link_id": "not-a-uuid", "nickname": "x"}))
		e.fail(400, "INVALID_FORMAT", e.request("POST", "/v1/circles/join", x.Token, map[string]any{"invite_code": 123456, "nickname": "x"}))

		// A member who left may come back, under their old nickname.
		e.must(200, e.request("POST", "/v1/circles/"+c.ID+"/leave", b.Token, nil))
		e.must(200, e.request("POST", "/v1/circles/join", b.Token, map[string]any{"invite_code": c.Code, "nickname": "b"}))
	})
}

// otherCode is an invite code that differs from code (and, with 32^6 codes, names nothing).
func otherCode(code string) string {
	if code == "ZZZZZZ" {
		return "YYYYYY"
	}
	return "ZZZZZZ"
}

func TestJoinExpiredInvite(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(1)
		link := e.must(200, e.request("GET", "/v1/circles/"+c.ID, c.Members[0].Token, nil))["invite_link_id"].(string)
		e.advance(23 * time.Hour)
		e.must(200, e.request("POST", "/v1/circles/join", e.login().Token, map[string]any{"invite_code": c.Code, "nickname": "early"}))
		e.advance(90 * time.Minute)
		u := e.login()
		e.fail(410, "INVITE_EXPIRED", e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_code": c.Code, "nickname": "late"}))
		e.fail(410, "INVITE_EXPIRED", e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_link_id": link, "nickname": "late"}))
		// Expiry is checked before membership and nickname.
		e.fail(410, "INVITE_EXPIRED", e.request("POST", "/v1/circles/join", c.Members[0].Token, map[string]any{"invite_code": c.Code, "nickname": "m0"}))

		// A regenerated invite works again for 24 hours.
		d := e.must(200, e.request("POST", "/v1/circles/"+c.ID+"/regenerate-invite", c.Members[0].Token, nil))
		if exp := parseTime(t, d["invite_expires_at"]); exp.Sub(e.now()) < 23*time.Hour {
			t.Fatalf("regenerated invite expires at %v (now %v)", exp, e.now())
		}
		e.must(200, e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_code": d["invite_code"], "nickname": "late"}))
	})
}

func TestJoinFullCircle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircleBy(e.login(), 10, map[string]any{"max_members": 10})
		u := e.login()
		e.fail(409, "CIRCLE_FULL", e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_code": c.Code, "nickname": "eleventh"}))
		// Order of checks (docs/api.md): already a member, then nickname, then full.
		e.fail(409, "ALREADY_MEMBER", e.request("POST", "/v1/circles/join", c.Members[3].Token, map[string]any{"invite_code": c.Code, "nickname": "x"}))
		e.fail(409, "NICKNAME_TAKEN", e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_code": c.Code, "nickname": "m4"}))
		d := e.must(200, e.request("GET", "/v1/circles/"+c.ID, c.Members[0].Token, nil))
		if num(t, d["member_count"]) != 10 || len(list(t, d["members"])) != 10 {
			t.Fatalf("full circle %v", d)
		}
		// When someone leaves there is room again.
		e.must(200, e.request("POST", "/v1/circles/"+c.ID+"/leave", c.Members[5].Token, nil))
		e.must(200, e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_code": c.Code, "nickname": "eleventh"}))
	})
}

func TestRegenerateInvite(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(2)
		creator := c.Members[0]
		old := e.must(200, e.request("GET", "/v1/circles/"+c.ID, creator.Token, nil))
		d := e.must(200, e.request("POST", "/v1/circles/"+c.ID+"/regenerate-invite", creator.Token, nil))
		code, _ := d["invite_code"].(string)
		if code == "" || code == c.Code || d["invite_link_id"] == old["invite_link_id"] || d["invite_link"] == old["invite_link"] {
			t.Fatalf("regenerated %v, old %v", d, old)
		}
		if len(code) != 6 || strings.Trim(code, circly.InviteAlphabet) != "" {
			t.Fatalf("invite_code %q", code)
		}
		u := e.login()
		e.fail(404, "INVITE_NOT_FOUND", e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_code": c.Code, "nickname": "x"}))
		e.fail(404, "INVITE_NOT_FOUND", e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_link_id": old["invite_link_id"], "nickname": "x"}))
		e.must(200, e.request("POST", "/v1/circles/join", u.Token, map[string]any{"invite_code": code, "nickname": "x"}))
		e.must(200, e.request("POST", "/v1/circles/join", e.login().Token, map[string]any{"invite_link_id": d["invite_link_id"], "nickname": "y"}))

		e.fail(403, "NOT_CIRCLE_CREATOR", e.request("POST", "/v1/circles/"+c.ID+"/regenerate-invite", c.Members[1].Token, nil))
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("POST", "/v1/circles/"+c.ID+"/regenerate-invite", e.login().Token, nil))
		e.fail(404, "CIRCLE_NOT_FOUND", e.request("POST", "/v1/circles/"+unknownID+"/regenerate-invite", creator.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/circles/x/regenerate-invite", creator.Token, nil))
	})
}

func TestLeaveCircle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		creator, leaver := c.Members[0], c.Members[2]
		mid := e.members(c)[2]["id"]
		d := e.must(200, e.request("POST", "/v1/circles/"+c.ID+"/leave", leaver.Token, nil))
		if d["circle_id"] != c.ID || d["member_id"] != mid {
			t.Fatalf("leave answer %v", d)
		}
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("GET", "/v1/circles/"+c.ID, leaver.Token, nil))
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("POST", "/v1/circles/"+c.ID+"/leave", leaver.Token, nil))
		if ms := e.members(c); len(ms) != 2 {
			t.Fatalf("members after leave %v", ms)
		}
		e.fail(403, "FORBIDDEN", e.request("POST", "/v1/circles/"+c.ID+"/leave", creator.Token, nil))
		e.fail(404, "CIRCLE_NOT_FOUND", e.request("POST", "/v1/circles/"+unknownID+"/leave", creator.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/circles/x/leave", creator.Token, nil))
	})
}

func TestRemoveMember(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(4)
		creator, victim := c.Members[0], c.Members[2]
		ms := e.members(c)
		creatorMID, victimMID, otherMID := ms[0]["id"].(string), ms[2]["id"].(string), ms[3]["id"].(string)
		base := "/v1/circles/" + c.ID + "/members/"

		e.fail(403, "NOT_CIRCLE_CREATOR", e.request("DELETE", base+otherMID, c.Members[1].Token, nil))
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("DELETE", base+otherMID, e.login().Token, nil))
		e.fail(404, "NOT_FOUND", e.request("DELETE", base+unknownID, creator.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("DELETE", base+"not-a-uuid", creator.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("DELETE", "/v1/circles/nope/members/"+victimMID, creator.Token, nil))
		e.fail(404, "CIRCLE_NOT_FOUND", e.request("DELETE", "/v1/circles/"+unknownID+"/members/"+victimMID, creator.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("DELETE", base+creatorMID, creator.Token, nil))
		// A member of another circle is not found in this one.
		other := e.newCircleBy(creator, 2)
		otherCircleMID := e.members(other)[1]["id"].(string)
		e.fail(404, "NOT_FOUND", e.request("DELETE", base+otherCircleMID, creator.Token, nil))

		d := e.must(200, e.request("DELETE", base+victimMID, creator.Token, nil))
		if d["member_id"] != victimMID || d["circle_id"] != c.ID {
			t.Fatalf("remove answer %v", d)
		}
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("GET", "/v1/circles/"+c.ID, victim.Token, nil))
		e.fail(404, "NOT_FOUND", e.request("DELETE", base+victimMID, creator.Token, nil))
		if ms := e.members(c); len(ms) != 3 {
			t.Fatalf("members after removal %v", ms)
		}
		// New polls no longer offer the removed member.
		poll := e.newPoll(c)
		_, optMembers := options(poll)
		for _, m := range optMembers {
			if m == victimMID {
				t.Fatal("removed member is an option of a new poll")
			}
		}
	})
}

// TestConcurrentJoins: 60 people joining a circle of 50 at once leave exactly 50 members.
func TestConcurrentJoins(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(1)
		const joiners = 60
		users := make([]user, joiners)
		for i := range users {
			users[i] = e.login()
		}
		results := make([]resp, joiners)
		errs := make([]error, joiners)
		var wg sync.WaitGroup
		for i := range joiners {
			wg.Go(func() {
				results[i], errs[i] = e.send("POST", "/v1/circles/join", users[i].Token, map[string]any{
					"invite_code": c.Code, "nickname": fmt.Sprintf("j%d", i)})
			})
		}
		wg.Wait()
		joined := 0
		for i, r := range results {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if r.Status == 200 {
				joined++
				continue
			}
			checkError(t, 409, "CIRCLE_FULL", r)
		}
		if joined != 49 {
			t.Fatalf("%d joins succeeded, want 49 (50 with the creator)", joined)
		}
		d := e.must(200, e.request("GET", "/v1/circles/"+c.ID, c.Members[0].Token, nil))
		if num(t, d["member_count"]) != 50 || len(list(t, d["members"])) != 50 {
			t.Fatalf("member_count %v, members %d", d["member_count"], len(list(t, d["members"])))
		}
	})
}
