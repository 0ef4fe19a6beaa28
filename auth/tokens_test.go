package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestIssueAndVerify(t *testing.T) {
	tk := NewTokens("0123456789abcdef0123456789abcdef", time.Hour)
	tok, err := tk.Issue("user-1")
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := tk.Verify(tok); err != nil || sub != "user-1" {
		t.Fatalf("Verify = %q, %v", sub, err)
	}
}

func TestVerifyRejects(t *testing.T) {
	key := "0123456789abcdef0123456789abcdef"
	tk := NewTokens(key, time.Hour)
	sign := func(m jwt.SigningMethod, k any, c jwt.RegisteredClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	valid := jwt.RegisteredClaims{Issuer: issuer, Subject: "u", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}
	noExp := jwt.RegisteredClaims{Issuer: issuer, Subject: "u"}
	otherIssuer := valid
	otherIssuer.Issuer = "someone-else"
	noSubject := valid
	noSubject.Subject = ""
	expired := valid
	expired.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))

	cases := map[string]struct {
		token string
		want  error
	}{
		"other key":    {sign(jwt.SigningMethodHS256, []byte("another key of enough length!!!!"), valid), ErrInvalid},
		"alg none":     {sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), ErrInvalid},
		"HS512":        {sign(jwt.SigningMethodHS512, []byte(key), valid), ErrInvalid},
		"no expiry":    {sign(jwt.SigningMethodHS256, []byte(key), noExp), ErrInvalid},
		"other issuer": {sign(jwt.SigningMethodHS256, []byte(key), otherIssuer), ErrInvalid},
		"no subject":   {sign(jwt.SigningMethodHS256, []byte(key), noSubject), ErrInvalid},
		"expired":      {sign(jwt.SigningMethodHS256, []byte(key), expired), ErrExpired},
		"garbage":      {"not.a.token", ErrInvalid},
		"empty":        {"", ErrInvalid},
		"tampered":     {sign(jwt.SigningMethodHS256, []byte(key), valid) + "x", ErrInvalid},
	}
	for name, c := range cases {
		if _, err := tk.Verify(c.token); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
	if strings.Count(sign(jwt.SigningMethodHS256, []byte(key), valid), ".") != 2 {
		t.Fatal("a JWT has three parts")
	}
}

// TestVerifyCacheKeepsTheRules: a token that verified once is answered from memory, but still
// expires on time, and any other bytes (a tampered copy) are checked in full.
func TestVerifyCacheKeepsTheRules(t *testing.T) {
	tk := NewTokens("0123456789abcdef0123456789abcdef", time.Hour)
	now := time.Now()
	tk.now = func() time.Time { return now }
	tok, err := tk.Issue("user-1")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if sub, err := tk.Verify(tok); err != nil || sub != "user-1" {
			t.Fatalf("Verify = %q, %v", sub, err)
		}
	}
	if len(tk.verified) != 1 {
		t.Fatalf("%d cached tokens, want 1", len(tk.verified))
	}
	if _, err := tk.Verify(tok + "x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tampered copy of a cached token: %v, want ErrInvalid", err)
	}
	if _, err := tk.Verify(strings.Replace(tok, ".", ".e", 1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("altered claims: %v, want ErrInvalid", err)
	}
	now = now.Add(time.Hour + time.Second)
	if _, err := tk.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("cached token past its expiry: %v, want ErrExpired", err)
	}
}
