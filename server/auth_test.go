package server_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"circly/auth"
	"circly/internal/testdb"

	"github.com/golang-jwt/jwt/v5"
)

func TestDeviceLogin(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		first := e.must(200, e.request("POST", "/v1/auth/device-login", "", map[string]any{
			"device_id": "iphone-of-minji", "platform": "ios", "app_version": "1.2.3"}))
		for _, k := range []string{"access_token", "refresh_token", "user_id"} {
			if s, _ := first[k].(string); s == "" {
				t.Fatalf("%s missing: %v", k, first)
			}
		}
		if num(t, first["expires_in"]) != 3600 { // the harness's token lifetime
			t.Fatalf("expires_in %v", first["expires_in"])
		}
		again := e.must(200, e.request("POST", "/v1/auth/device-login", "", map[string]any{
			"device_id": "iphone-of-minji", "platform": "ios"}))
		if again["user_id"] != first["user_id"] {
			t.Fatalf("same device, user %v then %v", first["user_id"], again["user_id"])
		}
		if again["refresh_token"] == first["refresh_token"] {
			t.Fatal("a new login must get a new refresh token")
		}
		other := e.must(200, e.request("POST", "/v1/auth/device-login", "", map[string]any{
			"device_id": "pixel-of-jiho", "platform": "android"}))
		if other["user_id"] == first["user_id"] {
			t.Fatal("two devices share a user")
		}
		me := e.must(200, e.request("GET", "/v1/users/me", first["access_token"].(string), nil))
		if me["id"] != first["user_id"] || me["device_id"] != "iphone-of-minji" || me["platform"] != "ios" {
			t.Fatalf("me %v", me)
		}
		// 255 characters is the longest device id; 20 the longest app version.
		e.must(200, e.request("POST", "/v1/auth/device-login", "", map[string]any{
			"device_id": strings.Repeat("d", 255), "platform": "web", "app_version": strings.Repeat("9", 20)}))
	})
}

func TestDeviceLoginValidation(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"missing device_id", map[string]any{"platform": "ios"}, 400, "MISSING_REQUIRED_FIELD"},
		{"missing platform", map[string]any{"device_id": "d1"}, 400, "MISSING_REQUIRED_FIELD"},
		{"empty device_id", map[string]any{"device_id": "  ", "platform": "ios"}, 400, "VALIDATION_ERROR"},
		{"device_id too long", map[string]any{"device_id": strings.Repeat("d", 256), "platform": "ios"}, 400, "VALIDATION_ERROR"},
		{"device_id not printable", map[string]any{"device_id": "d\u0001x", "platform": "ios"}, 400, "VALIDATION_ERROR"},
		{"bad platform", map[string]any{"device_id": "d1", "platform": "windows"}, 400, "VALIDATION_ERROR"},
		{"platform case", map[string]any{"device_id": "d1", "platform": "IOS"}, 400, "VALIDATION_ERROR"},
		{"app_version too long", map[string]any{"device_id": "d1", "platform": "ios", "app_version": strings.Repeat("1", 21)}, 400, "VALIDATION_ERROR"},
		{"device_id a number", map[string]any{"device_id": 12, "platform": "ios"}, 400, "INVALID_FORMAT"},
		{"unknown field", map[string]any{"device_id": "d1", "platform": "ios", "admin": true}, 400, "VALIDATION_ERROR"},
		{"not JSON", "{device_id:", 400, "INVALID_FORMAT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkError(t, c.status, c.code, e.request("POST", "/v1/auth/device-login", "", c.body))
		})
	}
}

// TestAccessTokenDefaultLifetime checks the 7-day default of ACCESS_TOKEN_TTL end to end.
func TestAccessTokenDefaultLifetime(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0], configTokenTTL())
	d := e.must(200, e.request("POST", "/v1/auth/device-login", "", map[string]any{"device_id": "d-ttl", "platform": "ios"}))
	if num(t, d["expires_in"]) != 604800 {
		t.Fatalf("expires_in %v, want 604800", d["expires_in"])
	}
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(d["access_token"].(string), &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Subject != d["user_id"] {
		t.Fatalf("sub %q, want the user id %v", claims.Subject, d["user_id"])
	}
	if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life != 7*24*time.Hour {
		t.Fatalf("token lives %s", life)
	}
	r := e.must(200, e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": d["refresh_token"]}))
	if num(t, r["expires_in"]) != 604800 {
		t.Fatalf("refresh expires_in %v", r["expires_in"])
	}
}

func TestRefreshRotation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		u := e.login()
		r1 := e.must(200, e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": u.Refresh}))
		for _, k := range []string{"access_token", "refresh_token"} {
			if s, _ := r1[k].(string); s == "" {
				t.Fatalf("%s missing: %v", k, r1)
			}
		}
		if r1["refresh_token"] == u.Refresh {
			t.Fatal("the refresh token did not rotate")
		}
		e.must(200, e.request("GET", "/v1/users/me", r1["access_token"].(string), nil))

		r2 := e.must(200, e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": r1["refresh_token"]}))

		// Reusing the first (rotated) token is theft: 401 and the whole family dies.
		e.fail(401, "INVALID_TOKEN", e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": u.Refresh}))
		e.fail(401, "INVALID_TOKEN", e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": r2["refresh_token"]}))
		e.fail(401, "INVALID_TOKEN", e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": r1["refresh_token"]}))

		// Another login of the same device starts a new family that still works.
		other := e.login()
		e.must(200, e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": other.Refresh}))
	})
}

func TestRefreshValidation(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	e.fail(400, "MISSING_REQUIRED_FIELD", e.request("POST", "/v1/auth/refresh", "", map[string]any{}))
	e.fail(400, "MISSING_REQUIRED_FIELD", e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": ""}))
	e.fail(401, "INVALID_TOKEN", e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": "not-a-token"}))
	e.fail(401, "INVALID_TOKEN", e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": strings.Repeat("x", 300)}))
	e.fail(400, "INVALID_FORMAT", e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": 42}))
	// An access token is not a refresh token.
	u := e.login()
	e.fail(401, "INVALID_TOKEN", e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": u.Token}))
}

func TestRefreshTokenExpired(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	e.advance(31 * 24 * time.Hour) // past the 30-day REFRESH_TOKEN_TTL
	e.fail(401, "TOKEN_EXPIRED", e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": u.Refresh}))
}

// unsigned builds a JWT with "alg": "none" and an empty signature.
func unsigned(t *testing.T, claims jwt.RegisteredClaims) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

func TestAccessTokens(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	e.must(200, e.request("GET", "/v1/users/me", u.Token, nil))

	now := time.Now()
	valid := jwt.RegisteredClaims{Issuer: "circly", Subject: u.ID, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}
	sign := func(m jwt.SigningMethod, key any, c jwt.RegisteredClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	otherKey, err := auth.NewTokens("some-other-secret-key-0123456789abcdef", time.Hour).Issue(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := auth.NewTokens(e.cfg.SecretKey, -time.Minute).Issue(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	noneLib, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	noIssuer := valid
	noIssuer.Issuer = ""
	noExpiry := valid
	noExpiry.ExpiresAt = nil
	noSubject := valid
	noSubject.Subject = ""
	tampered := u.Token[:len(u.Token)-2] + "xx"
	if tampered == u.Token {
		tampered = u.Token[:len(u.Token)-2] + "yy"
	}

	cases := []struct {
		name   string
		header string // the whole Authorization header; "" sends none
		code   string
	}{
		{"missing", "", "UNAUTHORIZED"},
		{"empty bearer", "Bearer ", "UNAUTHORIZED"},
		{"basic scheme", "Basic dXNlcjpwYXNz", "UNAUTHORIZED"},
		{"token without scheme", u.Token, "UNAUTHORIZED"},
		{"garbage", "Bearer not.a.jwt", "INVALID_TOKEN"},
		{"garbage no dots", "Bearer garbage", "INVALID_TOKEN"},
		{"tampered signature", "Bearer " + tampered, "INVALID_TOKEN"},
		{"another key", "Bearer " + otherKey, "INVALID_TOKEN"},
		{"alg none (hand made)", "Bearer " + unsigned(t, valid), "INVALID_TOKEN"},
		{"alg none (library)", "Bearer " + noneLib, "INVALID_TOKEN"},
		{"HS512 with the right key", "Bearer " + sign(jwt.SigningMethodHS512, []byte(e.cfg.SecretKey), valid), "INVALID_TOKEN"},
		{"no issuer", "Bearer " + sign(jwt.SigningMethodHS256, []byte(e.cfg.SecretKey), noIssuer), "INVALID_TOKEN"},
		{"no expiry", "Bearer " + sign(jwt.SigningMethodHS256, []byte(e.cfg.SecretKey), noExpiry), "INVALID_TOKEN"},
		{"no subject", "Bearer " + sign(jwt.SigningMethodHS256, []byte(e.cfg.SecretKey), noSubject), "INVALID_TOKEN"},
		{"expired", "Bearer " + expired, "TOKEN_EXPIRED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.request("GET", "/v1/users/me", "", nil, "Authorization", c.header)
			checkError(t, 401, c.code, r)
		})
	}
	// A token the harness signs by hand with the right key and claims works.
	e.must(200, e.request("GET", "/v1/users/me", sign(jwt.SigningMethodHS256, []byte(e.cfg.SecretKey), valid), nil))
	// A well-signed token for a user that never existed is refused.
	ghost := valid
	ghost.Subject = unknownID
	checkError(t, 401, "UNAUTHORIZED", e.request("GET", "/v1/users/me", sign(jwt.SigningMethodHS256, []byte(e.cfg.SecretKey), ghost), nil))
}

// TestNonUUIDSubject: a correctly signed token whose subject is no user id is an invalid token
// on both databases (PostgreSQL once answered 500, failing to cast it to uuid). The WebSocket
// upgrade checks tokens with the same function.
func TestNonUUIDSubject(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		now := time.Now()
		for _, sub := range []string{"not-a-uuid", "1", "' OR 1=1 --", "00000000-0000-4000-8000-00000000000g"} {
			c := jwt.RegisteredClaims{Issuer: "circly", Subject: sub, ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(e.cfg.SecretKey))
			if err != nil {
				t.Fatal(err)
			}
			checkError(t, 401, "INVALID_TOKEN", e.request("GET", "/v1/users/me", tok, nil))
		}
	})
}

// TestAuthRequired checks that every authenticated route refuses a request without a token.
func TestAuthRequired(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	id := unknownID
	routes := [][2]string{
		{"GET", "/v1/users/me"}, {"PUT", "/v1/users/me"}, {"DELETE", "/v1/users/me"},
		{"POST", "/v1/circles"}, {"GET", "/v1/circles"}, {"POST", "/v1/circles/join"},
		{"GET", "/v1/circles/" + id}, {"PUT", "/v1/circles/" + id}, {"DELETE", "/v1/circles/" + id},
		{"POST", "/v1/circles/" + id + "/regenerate-invite"}, {"POST", "/v1/circles/" + id + "/leave"},
		{"DELETE", "/v1/circles/" + id + "/members/" + id},
		{"GET", "/v1/templates"}, {"GET", "/v1/templates/popular"}, {"GET", "/v1/templates/" + id},
		{"POST", "/v1/polls"}, {"GET", "/v1/polls"}, {"GET", "/v1/polls/" + id}, {"PUT", "/v1/polls/" + id},
		{"DELETE", "/v1/polls/" + id}, {"POST", "/v1/polls/" + id + "/vote"}, {"GET", "/v1/polls/" + id + "/results"},
	}
	for _, rt := range routes {
		var body any
		if rt[0] == "POST" || rt[0] == "PUT" {
			body = map[string]any{}
		}
		checkError(t, 401, "UNAUTHORIZED", e.request(rt[0], rt[1], "", body))
	}
}

func TestDeletedUserToken(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		gone := c.Members[1]
		e.must(200, e.request("GET", "/v1/users/me", gone.Token, nil))
		d := e.must(200, e.request("DELETE", "/v1/users/me", gone.Token, nil))
		if d["deleted"] != true {
			t.Fatalf("delete answer %v", d)
		}
		e.fail(401, "UNAUTHORIZED", e.request("GET", "/v1/users/me", gone.Token, nil))
		e.fail(401, "UNAUTHORIZED", e.request("GET", "/v1/circles", gone.Token, nil))
		e.fail(401, "UNAUTHORIZED", e.request("POST", "/v1/circles", gone.Token, map[string]any{"name": "c", "nickname": "n"}))
		// Their refresh token dies with them.
		e.fail(401, "INVALID_TOKEN", e.request("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": gone.Refresh}))
		// Their membership ended.
		for _, m := range e.members(c) {
			if m["nickname"] == "m1" {
				t.Fatalf("deleted user still a member: %v", m)
			}
		}
	})
}
