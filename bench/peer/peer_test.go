package main

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func sign(t *testing.T, key, issuer, sub string, exp time.Time) string {
	t.Helper()
	claims := jwt.RegisteredClaims{Issuer: issuer, Subject: sub}
	if !exp.IsZero() {
		claims.ExpiresAt = jwt.NewNumericDate(exp)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokensAreCheckedLikeCirclys(t *testing.T) {
	const key = "peer-test-secret-0123456789"
	tk := newTokens(key)
	now := time.Now()
	good := sign(t, key, "circly", "u1", now.Add(time.Hour))
	for i := range 2 { // the second answer comes from the cache
		if user, err := tk.verify(good); err != nil || user != "u1" {
			t.Fatalf("try %d: %q, %v", i, user, err)
		}
	}
	for name, tok := range map[string]string{
		"forged":        sign(t, "another-key-0123456789", "circly", "u1", now.Add(time.Hour)),
		"expired":       sign(t, key, "circly", "u1", now.Add(-time.Minute)),
		"no expiry":     sign(t, key, "circly", "u1", time.Time{}),
		"wrong issuer":  sign(t, key, "someone", "u1", now.Add(time.Hour)),
		"no subject":    sign(t, key, "circly", "", now.Add(time.Hour)),
		"not a token":   "abc",
		"empty":         "",
		"signed twice?": good + "x",
	} {
		if _, err := tk.verify(tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A cached token still expires.
	tk.now = func() time.Time { return now.Add(2 * time.Hour) }
	if _, err := tk.verify(good); err == nil {
		t.Error("an expired cached token was accepted")
	}
}

func TestChannelRules(t *testing.T) {
	const user = "0b7f3c1e-6a43-4f7e-9a55-2f1d3c4b5a69"
	const other = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
	for ch, want := range map[string]bool{
		"poll:" + other:            true,
		"circle:" + other:          true,
		"user:" + user:             true,
		"user:" + other:            false,
		"poll:not-a-uuid":          false,
		"poll:" + other + "x":      false,
		"chat:" + other:            false,
		other:                      false,
		"poll:" + other[:35] + "g": false,
	} {
		if got := allowed(ch, user); got != want {
			t.Errorf("allowed(%q) = %v, want %v", ch, got, want)
		}
	}
}
