package server_test

import (
	"io"
	"regexp"
	"strings"
	"testing"

	"circly/internal/testdb"
	"circly/server"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	for _, path := range []string{"/v1/nope", "/v1/circles/" + unknownID + "/nope", "/v1/circles/", "/v1", "/nope", "/v2/circles"} {
		e.fail(404, "NOT_FOUND", e.request("GET", path, u.Token, nil))
		e.fail(404, "NOT_FOUND", e.request("GET", path, "", nil))
	}
	cases := []struct{ method, path, allow string }{
		{"DELETE", "/v1/circles", "POST"},
		{"PATCH", "/v1/users/me", "PUT"},
		{"GET", "/v1/auth/device-login", "POST"},
		{"PUT", "/v1/polls/" + unknownID + "/vote", "POST"},
		{"POST", "/health", "GET"},
	}
	for _, c := range cases {
		r := e.request(c.method, c.path, u.Token, nil)
		e.fail(405, "METHOD_NOT_ALLOWED", r)
		if !strings.Contains(r.Header.Get("Allow"), c.allow) {
			t.Fatalf("%s %s: Allow %q, want it to list %s", c.method, c.path, r.Header.Get("Allow"), c.allow)
		}
	}
}

func TestBodyRules(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	login := "/v1/auth/device-login"

	cases := []struct {
		name   string
		body   string
		status int
		code   string
		field  string
	}{
		{"not JSON", `{"device_id": "x",`, 400, "INVALID_FORMAT", ""},
		{"garbage", `hello`, 400, "INVALID_FORMAT", ""},
		{"empty object text", ` `, 400, "INVALID_FORMAT", ""},
		{"array", `[{"device_id":"x","platform":"ios"}]`, 400, "INVALID_FORMAT", ""},
		{"string", `"device"`, 400, "INVALID_FORMAT", ""},
		{"two objects", `{"device_id":"x","platform":"ios"}{"device_id":"y"}`, 400, "INVALID_FORMAT", ""},
		{"invalid UTF-8", "{\"device_id\":\"\xff\xfe\",\"platform\":\"ios\"}", 400, "INVALID_FORMAT", ""},
		{"unknown field", `{"device_id":"x","platform":"ios","is_admin":true}`, 400, "VALIDATION_ERROR", "is_admin"},
		{"repeated field", `{"device_id":"x","platform":"ios","device_id":"y"}`, 400, "VALIDATION_ERROR", "device_id"},
		{"wrong type string", `{"device_id":"x","platform":7}`, 400, "INVALID_FORMAT", "platform"},
		{"wrong type object", `{"device_id":{"a":1},"platform":"ios"}`, 400, "INVALID_FORMAT", "device_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errObj := checkError(t, c.status, c.code, e.request("POST", login, "", c.body))
			if c.field != "" {
				if d, _ := errObj["details"].(map[string]any); d["field"] != c.field {
					t.Fatalf("details %v, want field %s", errObj["details"], c.field)
				}
			}
		})
	}
	// An empty body on a route that needs one.
	e.fail(400, "INVALID_FORMAT", e.request("POST", "/v1/circles", u.Token, nil, "Content-Type", "application/json"))
	e.fail(400, "INVALID_FORMAT", e.request("POST", "/v1/circles", u.Token, ""))
	// Wrong field type on an authenticated route.
	e.fail(400, "INVALID_FORMAT", e.request("POST", "/v1/circles", u.Token, `{"name":["a"],"nickname":"n"}`))
	e.fail(400, "VALIDATION_ERROR", e.request("PUT", "/v1/users/me", u.Token, `{"timezone":"Asia/Seoul","extra":1}`))
	// A repeated key is refused before anything is written (the last one used to win).
	e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/circles", u.Token, `{"name":"one","nickname":"n","name":"two"}`))
	if l := e.must(200, e.request("GET", "/v1/circles", u.Token, nil)); len(list(t, l["circles"])) != 0 {
		t.Fatalf("a refused body created a circle: %v", l)
	}
}

func TestContentType(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	body := `{"device_id":"ct-device","platform":"ios"}`
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "", "json"} {
		r := e.request("POST", "/v1/auth/device-login", "", body, "Content-Type", ct)
		e.fail(415, "UNSUPPORTED_MEDIA_TYPE", r)
	}
	e.fail(415, "UNSUPPORTED_MEDIA_TYPE", e.request("PUT", "/v1/users/me", u.Token, `{"timezone":"UTC"}`, "Content-Type", "text/plain"))
	e.fail(415, "UNSUPPORTED_MEDIA_TYPE", e.request("POST", "/v1/circles", u.Token, `{"name":"c","nickname":"n"}`, "Content-Type", "text/json"))
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
		e.must(200, e.request("POST", "/v1/auth/device-login", "", body, "Content-Type", ct))
	}
}

// chunked hides a reader's length, so the client sends the body without Content-Length.
type chunked struct{ io.Reader }

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	small := `{"device_id":"big-body","platform":"ios"}`
	exact := small + strings.Repeat(" ", server.MaxBodyBytes-len(small))
	e.must(200, e.request("POST", "/v1/auth/device-login", "", exact))

	over := exact + " "
	e.fail(413, "PAYLOAD_TOO_LARGE", e.request("POST", "/v1/auth/device-login", "", over))
	e.fail(413, "PAYLOAD_TOO_LARGE", e.request("POST", "/v1/auth/device-login", "", chunked{strings.NewReader(over)}))
	huge := `{"name":"` + strings.Repeat("a", 3<<20) + `","nickname":"n"}`
	e.fail(413, "PAYLOAD_TOO_LARGE", e.request("POST", "/v1/circles", u.Token, huge))
	e.fail(413, "PAYLOAD_TOO_LARGE", e.request("POST", "/v1/circles", u.Token, chunked{strings.NewReader(huge)}))
	e.fail(413, "PAYLOAD_TOO_LARGE", e.request("PUT", "/v1/users/me", u.Token, chunked{strings.NewReader(huge)}))
	// A chunked body within the limit is fine.
	e.must(201, e.request("POST", "/v1/circles", u.Token, chunked{strings.NewReader(`{"name":"c","nickname":"n"}`)}))
}

// TestNonUUIDPathIDs: every route with an id in its path answers 400 VALIDATION_ERROR to a
// malformed one, never 404 or 500.
func TestNonUUIDPathIDs(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	c := e.newCircleBy(u, 1)
	for _, bad := range []string{"123", "not-a-uuid", "' OR 1=1 --", strings.Repeat("a", 300), unknownID + "0", "%00"} {
		esc := strings.ReplaceAll(strings.ReplaceAll(bad, " ", "%20"), "'", "%27")
		routes := []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/circles/" + esc, nil},
			{"PUT", "/v1/circles/" + esc, map[string]any{"name": "x"}},
			{"DELETE", "/v1/circles/" + esc, nil},
			{"POST", "/v1/circles/" + esc + "/regenerate-invite", nil},
			{"POST", "/v1/circles/" + esc + "/leave", nil},
			{"DELETE", "/v1/circles/" + esc + "/members/" + unknownID, nil},
			{"DELETE", "/v1/circles/" + c.ID + "/members/" + esc, nil},
			{"GET", "/v1/templates/" + esc, nil},
			{"GET", "/v1/polls/" + esc, nil},
			{"PUT", "/v1/polls/" + esc, map[string]any{"deadline": "2030-01-01T00:00:00Z"}},
			{"DELETE", "/v1/polls/" + esc, nil},
			{"POST", "/v1/polls/" + esc + "/vote", map[string]any{"option_id": unknownID}},
			{"GET", "/v1/polls/" + esc + "/results", nil},
		}
		for _, rt := range routes {
			r := e.request(rt.method, rt.path, u.Token, rt.body)
			if r.Status != 400 || r.Code() != "VALIDATION_ERROR" {
				t.Fatalf("%s %s: %d %s", rt.method, rt.path, r.Status, r.Raw)
			}
			checkError(t, 400, "VALIDATION_ERROR", r)
		}
	}
}

func TestPanicIsInternalError(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	e := newEnv(t, testdb.Dialects[0], withLog(zap.New(core)), beforeServe(func(s *server.Server) {
		s.AddPanicRoute("/v1/test/panic", "boom: SELECT secret FROM users WHERE password = 'hunter2'")
	}))
	r := e.request("GET", "/v1/test/panic", "", nil, "X-Request-ID", "panic-req-1")
	errObj := e.fail(500, "INTERNAL_ERROR", r)
	for _, leak := range []string{"SELECT", "hunter2", "boom", "goroutine", ".go:", "panic", "runtime/debug"} {
		if strings.Contains(string(r.Raw), leak) {
			t.Fatalf("500 body leaks %q: %s", leak, r.Raw)
		}
	}
	if _, ok := errObj["details"]; ok {
		t.Fatalf("500 with details: %s", r.Raw)
	}
	if r.Header.Get("X-Request-ID") != "panic-req-1" {
		t.Fatalf("X-Request-ID %q", r.Header.Get("X-Request-ID"))
	}
	// The stack goes to the log, with the request id.
	found := false
	for _, entry := range logs.FilterMessage("panic").All() {
		ctx := entry.ContextMap()
		if ctx["request_id"] == "panic-req-1" && strings.Contains(ctx["stack"].(string), "goroutine") {
			found = true
		}
	}
	if !found {
		t.Fatalf("panic not logged with its stack: %v", logs.All())
	}
	// The server is still up.
	e.must(200, e.request("GET", "/v1/users/me", e.login().Token, nil))
}

func TestRequestID(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	r := e.request("GET", "/v1/users/me", u.Token, nil, "X-Request-ID", "client-req.42_A")
	if r.Header.Get("X-Request-ID") != "client-req.42_A" {
		t.Fatalf("X-Request-ID %q not echoed", r.Header.Get("X-Request-ID"))
	}
	r = e.request("GET", "/v1/nope", "", nil, "X-Request-ID", "err-req-1")
	if r.Header.Get("X-Request-ID") != "err-req-1" {
		t.Fatalf("X-Request-ID %q not echoed on an error", r.Header.Get("X-Request-ID"))
	}
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	for _, bad := range []string{"", "has spaces in it", strings.Repeat("x", 65), "line\tbreak"} {
		r = e.request("GET", "/v1/users/me", u.Token, nil, "X-Request-ID", bad)
		if got := r.Header.Get("X-Request-ID"); !generated.MatchString(got) {
			t.Fatalf("request id for %q: %q, want a generated one", bad, got)
		}
	}
	a := e.request("GET", "/health", "", nil).Header.Get("X-Request-ID")
	b := e.request("GET", "/health", "", nil).Header.Get("X-Request-ID")
	if a == b || !generated.MatchString(a) {
		t.Fatalf("generated ids %q, %q", a, b)
	}
	// The security headers ride along on every answer.
	for _, r := range []resp{e.request("GET", "/v1/users/me", u.Token, nil), e.request("GET", "/v1/nope", "", nil)} {
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("security headers %v", r.Header)
		}
	}
}

// TestTextFieldsAcceptEmoji: joined emoji (ZWJ, variation selectors) are fine in names; other
// invisible characters are not.
func TestTextFieldsAcceptEmoji(t *testing.T) {
	e := newEnv(t, "sqlite")
	u := e.login()
	e.must(201, e.request("POST", "/v1/circles", u.Token, map[string]any{"name": "우리반 👩‍👩‍👧 ❤️", "nickname": "민지🧑🏽‍💻"}))
	r := e.request("POST", "/v1/circles", u.Token, map[string]any{"name": "bad\u202ename", "nickname": "x"})
	if r.Status != 400 || r.Code() != "VALIDATION_ERROR" {
		t.Fatalf("bidi override in a name: %d %s", r.Status, r.Raw)
	}
}
