package server_test

import (
	"strings"
	"testing"
	"time"
)

func (e *env) notifications(u user, query string) map[string]any {
	e.t.Helper()
	return e.must(200, e.request("GET", "/v1/notifications"+query, u.Token, nil))
}

func TestNotificationsListAndRead(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		poll := e.newPoll(c)
		creator, m1, m2 := c.Members[0], c.Members[1], c.Members[2]

		if d := e.notifications(creator, ""); num(t, d["total"]) != 0 || num(t, d["unread_count"]) != 0 {
			t.Fatalf("the creator has notifications of their own poll: %v", d)
		}
		d := e.notifications(m1, "")
		if num(t, d["total"]) != 1 || num(t, d["unread_count"]) != 1 || num(t, d["limit"]) != 20 || num(t, d["offset"]) != 0 {
			t.Fatalf("list %v, want one unread", d)
		}
		n := list(t, d["notifications"])[0]
		if n["type"] != "poll_start" || n["is_read"] != false || n["title"] == "" || n["message"] == "" {
			t.Fatalf("notification %v", n)
		}
		data := n["data"].(map[string]any)
		if data["poll_id"] != poll["id"] || data["circle_id"] != c.ID {
			t.Fatalf("data %v, want the poll and circle", data)
		}
		parseTime(t, n["created_at"])

		// Read one: it is read, stays readable, and the count drops.
		id := n["id"].(string)
		r := e.must(200, e.request("PUT", "/v1/notifications/"+id+"/read", m1.Token, nil))
		if r["is_read"] != true || r["id"] != id {
			t.Fatalf("read answer %v", r)
		}
		e.must(200, e.request("PUT", "/v1/notifications/"+id+"/read", m1.Token, nil)) // again: fine
		if d := e.notifications(m1, "?status=unread"); num(t, d["total"]) != 0 || num(t, d["unread_count"]) != 0 {
			t.Fatalf("unread after reading: %v", d)
		}
		if d := e.notifications(m1, "?status=read"); num(t, d["total"]) != 1 {
			t.Fatalf("read list %v", d)
		}
		// Someone else's notification is not there for them.
		e.fail(404, "NOT_FOUND", e.request("PUT", "/v1/notifications/"+id+"/read", m2.Token, nil))
		e.fail(404, "NOT_FOUND", e.request("PUT", "/v1/notifications/"+unknownID+"/read", m2.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("PUT", "/v1/notifications/not-a-uuid/read", m2.Token, nil))

		// Read all.
		e.newPollBy(c.Members[1], c, templateID(2), 3)
		if d := e.notifications(m2, ""); num(t, d["unread_count"]) != 2 {
			t.Fatalf("m2 unread %v, want 2", d["unread_count"])
		}
		ra := e.must(200, e.request("PUT", "/v1/notifications/read-all", m2.Token, nil))
		if num(t, ra["updated"]) != 2 || num(t, ra["unread_count"]) != 0 {
			t.Fatalf("read-all %v", ra)
		}
		if d := e.notifications(m2, "?status=all&limit=1&offset=1"); num(t, d["total"]) != 2 || len(list(t, d["notifications"])) != 1 {
			t.Fatalf("paged list %v", d)
		}
	})
}

func TestNotificationsErrors(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		u := e.login()
		e.fail(401, "UNAUTHORIZED", e.request("GET", "/v1/notifications", "", nil))
		e.fail(401, "UNAUTHORIZED", e.request("PUT", "/v1/notifications/read-all", "", nil))
		e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/notifications?status=new", u.Token, nil))
		e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/notifications?limit=0", u.Token, nil))
		if d := e.notifications(u, "?limit=500"); num(t, d["limit"]) != 100 {
			t.Fatalf("limit %v, want clamped to 100", d["limit"])
		}
		e.fail(405, "METHOD_NOT_ALLOWED", e.request("DELETE", "/v1/notifications/read-all", u.Token, nil))
	})
}

func TestNotificationSettings(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		u := e.login()
		d := e.must(200, e.request("GET", "/v1/notifications/settings", u.Token, nil))
		want := map[string]any{"poll_start_enabled": true, "poll_deadline_enabled": true, "poll_result_enabled": true,
			"quiet_hours_enabled": false, "quiet_start_hour": 22.0, "quiet_end_hour": 8.0, "max_notifications_per_day": 20.0}
		for k, v := range want {
			if d[k] != v {
				t.Fatalf("default %s = %v, want %v (%v)", k, d[k], v, d)
			}
		}
		if len(d) != len(want) {
			t.Fatalf("settings carry extra fields: %v", d)
		}
		d = e.must(200, e.request("PUT", "/v1/notifications/settings", u.Token, map[string]any{
			"poll_start_enabled": false, "quiet_hours_enabled": true, "quiet_start_hour": 23, "quiet_end_hour": 7}))
		if d["poll_start_enabled"] != false || d["quiet_hours_enabled"] != true || d["quiet_start_hour"] != 23.0 ||
			d["quiet_end_hour"] != 7.0 || d["poll_result_enabled"] != true || d["max_notifications_per_day"] != 20.0 {
			t.Fatalf("after update %v", d)
		}
		// A partial update keeps the rest.
		d = e.must(200, e.request("PUT", "/v1/notifications/settings", u.Token, map[string]any{"max_notifications_per_day": 0}))
		if d["max_notifications_per_day"] != 0.0 || d["quiet_start_hour"] != 23.0 || d["poll_start_enabled"] != false {
			t.Fatalf("after partial update %v", d)
		}
		if g := e.must(200, e.request("GET", "/v1/notifications/settings", u.Token, nil)); g["quiet_end_hour"] != 7.0 {
			t.Fatalf("settings not stored: %v", g)
		}

		for _, tc := range []struct {
			body  any
			code  string
			field string
		}{
			{map[string]any{"quiet_start_hour": 24}, "VALIDATION_ERROR", "quiet_start_hour"},
			{map[string]any{"quiet_end_hour": -1}, "VALIDATION_ERROR", "quiet_end_hour"},
			{map[string]any{"max_notifications_per_day": 101}, "VALIDATION_ERROR", "max_notifications_per_day"},
			{map[string]any{"quiet_start_hour": 7}, "VALIDATION_ERROR", "quiet_end_hour"}, // 7 → 7 while enabled
			{map[string]any{"quiet_start_hour": "late"}, "INVALID_FORMAT", "quiet_start_hour"},
			{map[string]any{"sound": true}, "VALIDATION_ERROR", "sound"},
			{map[string]any{}, "MISSING_REQUIRED_FIELD", ""},
		} {
			errObj := e.fail(400, tc.code, e.request("PUT", "/v1/notifications/settings", u.Token, tc.body))
			if tc.field != "" {
				if det, _ := errObj["details"].(map[string]any); det["field"] != tc.field {
					t.Fatalf("%v: details %v, want field %s", tc.body, errObj["details"], tc.field)
				}
			}
		}
		e.fail(415, "UNSUPPORTED_MEDIA_TYPE", e.request("PUT", "/v1/notifications/settings", u.Token, strings.NewReader(`{}`),
			"Content-Type", "text/plain"))
		// Nothing half-written: the failed updates changed nothing.
		if g := e.must(200, e.request("GET", "/v1/notifications/settings", u.Token, nil)); g["quiet_start_hour"] != 23.0 {
			t.Fatalf("a refused update changed the settings: %v", g)
		}
	})
}

// TestCloseOnReadWritesNotificationsOnce: a poll past its deadline that a read closes (before
// the close job) gets its result and picked notifications, once.
func TestCloseOnReadWritesNotificationsOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(4)
		poll := e.newPoll(c)
		ids, _ := options(poll)
		e.vote(c.Members[1], poll["id"].(string), ids[1]) // m1 → m2
		e.vote(c.Members[2], poll["id"].(string), ids[0]) // m2 → m1
		e.vote(c.Members[3], poll["id"].(string), ids[0]) // m3 → m1
		e.advance(time.Hour + time.Second)
		for range 3 {
			p := e.must(200, e.request("GET", "/v1/polls/"+poll["id"].(string), c.Members[0].Token, nil))
			if p["is_closed"] != true {
				t.Fatalf("poll open after its deadline: %v", p)
			}
			e.must(200, e.request("GET", "/v1/polls", c.Members[1].Token, nil))
		}
		e.fail(409, "POLL_CLOSED", e.request("POST", "/v1/polls/"+poll["id"].(string)+"/vote", c.Members[0].Token,
			map[string]any{"option_id": ids[2]}))
		count := func(u user, typ string) (n int, msgs []string) {
			for _, x := range list(t, e.notifications(u, "?limit=100")["notifications"]) {
				if x["type"] == typ {
					n++
					msgs = append(msgs, x["message"].(string))
				}
			}
			return n, msgs
		}
		for i, m := range c.Members {
			if n, _ := count(m, "poll_result"); n != 1 {
				t.Fatalf("member %d has %d poll_result notifications, want 1", i, n)
			}
		}
		if n, msgs := count(c.Members[1], "picked"); n != 1 || !strings.Contains(msgs[0], "2번") {
			t.Fatalf("m1 picked notifications %d %v, want one saying 2 times", n, msgs)
		}
		if n, _ := count(c.Members[2], "picked"); n != 1 {
			t.Fatalf("m2 picked notifications %d, want 1", n)
		}
		if n, _ := count(c.Members[3], "picked"); n != 0 {
			t.Fatalf("m3 (no votes) has %d picked notifications", n)
		}
	})
}
