package server_test

import (
	"strings"
	"testing"
	"time"
)

func TestGetMe(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		d := e.must(200, e.request("POST", "/v1/auth/device-login", "", map[string]any{
			"device_id": "galaxy-1", "platform": "android", "app_version": "2.0.1"}))
		me := e.must(200, e.request("GET", "/v1/users/me", d["access_token"].(string), nil))
		want := map[string]any{"id": d["user_id"], "device_id": "galaxy-1", "platform": "android",
			"app_version": "2.0.1", "timezone": "Asia/Seoul"}
		for k, v := range want {
			if me[k] != v {
				t.Fatalf("%s = %v, want %v (%v)", k, me[k], v, me)
			}
		}
		created := parseTime(t, me["created_at"])
		parseTime(t, me["last_active_at"])
		if time.Since(created) > time.Minute || time.Until(created) > time.Minute {
			t.Fatalf("created_at %v", created)
		}
		// Without app_version the field is present and null.
		u := e.login()
		me = e.must(200, e.request("GET", "/v1/users/me", u.Token, nil))
		if v, ok := me["app_version"]; !ok || v != nil {
			t.Fatalf("app_version %v (present %v), want null", v, ok)
		}
		if len(me) != 7 {
			t.Fatalf("me has fields %v, want exactly id, device_id, platform, app_version, created_at, last_active_at, timezone", me)
		}
	})
}

func TestUpdateMe(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		u := e.login()
		for _, tok := range []string{"ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx]", "ExpoPushToken[abc-DEF_123]"} {
			e.must(200, e.request("PUT", "/v1/users/me", u.Token, map[string]any{"push_token": tok}))
		}
		d := e.must(200, e.request("PUT", "/v1/users/me", u.Token, map[string]any{"timezone": "America/New_York"}))
		if d["timezone"] != "America/New_York" || d["id"] != u.ID {
			t.Fatalf("update answer %v", d)
		}
		d = e.must(200, e.request("PUT", "/v1/users/me", u.Token, map[string]any{
			"timezone": "Europe/Berlin", "push_token": "ExponentPushToken[abc]"}))
		if d["timezone"] != "Europe/Berlin" {
			t.Fatalf("timezone %v", d["timezone"])
		}
		if me := e.must(200, e.request("GET", "/v1/users/me", u.Token, nil)); me["timezone"] != "Europe/Berlin" {
			t.Fatalf("GET after PUT: %v", me)
		}
		// The push token is the device's secret-ish address: not echoed in the profile.
		if strings.Contains(string(e.request("GET", "/v1/users/me", u.Token, nil).Raw), "PushToken[") {
			t.Fatal("push token shown in GET /v1/users/me")
		}

		bad := []struct {
			name string
			body any
			code string
		}{
			{"empty body object", map[string]any{}, "VALIDATION_ERROR"},
			{"plain token", map[string]any{"push_token": "abc123"}, "VALIDATION_ERROR"},
			{"fcm token", map[string]any{"push_token": "fcm:APA91bH"}, "VALIDATION_ERROR"},
			{"empty brackets", map[string]any{"push_token": "ExponentPushToken[]"}, "VALIDATION_ERROR"},
			{"no closing bracket", map[string]any{"push_token": "ExponentPushToken[abc"}, "VALIDATION_ERROR"},
			{"trailing junk", map[string]any{"push_token": "ExpoPushToken[abc]x"}, "VALIDATION_ERROR"},
			{"empty token", map[string]any{"push_token": ""}, "VALIDATION_ERROR"},
			{"mars", map[string]any{"timezone": "Mars/Olympus"}, "VALIDATION_ERROR"},
			{"empty timezone", map[string]any{"timezone": ""}, "VALIDATION_ERROR"},
			{"Local", map[string]any{"timezone": "Local"}, "VALIDATION_ERROR"},
			{"path escape", map[string]any{"timezone": "../../etc/passwd"}, "VALIDATION_ERROR"},
			{"timezone number", map[string]any{"timezone": 9}, "INVALID_FORMAT"},
			{"unknown field", map[string]any{"nickname": "x"}, "VALIDATION_ERROR"},
		}
		for _, c := range bad {
			t.Run(c.name, func(t *testing.T) {
				checkError(t, 400, c.code, e.request("PUT", "/v1/users/me", u.Token, c.body))
			})
		}
		// A rejected update changed nothing.
		if me := e.must(200, e.request("GET", "/v1/users/me", u.Token, nil)); me["timezone"] != "Europe/Berlin" {
			t.Fatalf("timezone after rejected updates: %v", me["timezone"])
		}
	})
}

func TestDeleteMe(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(4)
		poll := e.newPoll(c)
		pid := poll["id"].(string)
		ids, _ := options(poll)
		voter := c.Members[3]
		e.vote(voter, pid, ids[0])

		e.must(200, e.request("DELETE", "/v1/users/me", voter.Token, nil))
		e.fail(401, "UNAUTHORIZED", e.request("GET", "/v1/users/me", voter.Token, nil))

		// The ballot stays counted; the member is gone from the circle.
		res := e.must(200, e.request("GET", "/v1/polls/"+pid+"/results", c.Members[0].Token, nil))
		if num(t, res["total_votes"]) != 1 {
			t.Fatalf("ballot of a deleted user lost: %v", res)
		}
		d := e.must(200, e.request("GET", "/v1/circles/"+c.ID, c.Members[0].Token, nil))
		if num(t, d["member_count"]) != 3 || len(list(t, d["members"])) != 3 {
			t.Fatalf("circle after a member deleted their account: %v", d)
		}
		// Logging in again from a deleted account's device makes a new account.
		login := map[string]any{"device_id": "shared-tablet", "platform": "web"}
		first := e.must(200, e.request("POST", "/v1/auth/device-login", "", login))
		e.must(200, e.request("DELETE", "/v1/users/me", first["access_token"].(string), nil))
		second := e.must(200, e.request("POST", "/v1/auth/device-login", "", login))
		if second["user_id"] == first["user_id"] {
			t.Fatal("a deleted account came back")
		}
		e.must(200, e.request("GET", "/v1/users/me", second["access_token"].(string), nil))
	})
}
