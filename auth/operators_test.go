package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestOperatorTokensAndUserTokensNeverCross(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	ops, users := NewOperators(key), NewTokens(key, time.Hour)
	ot, err := ops.Issue("alice", 8*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if name, id, err := ops.Verify(ot.Token); err != nil || name != "alice" || id != ot.ID {
		t.Fatalf("Verify = %q %q %v", name, id, err)
	}
	ut, err := users.Issue("user-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ops.Verify(ut); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a user token passed as an operator's: %v", err)
	}
	if _, err := users.Verify(ot.Token); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an operator token passed as a user's: %v", err)
	}
	// Signed with the operator key but without the operator type or audience: refused.
	for name, c := range map[string]operatorClaims{
		"no type":     {RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer, Subject: "a", ID: ot.ID, Audience: jwt.ClaimStrings{operatorAudience}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}},
		"no audience": {Type: operatorType, RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer, Subject: "a", ID: ot.ID, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}},
		"no id":       {Type: operatorType, RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer, Subject: "a", Audience: jwt.ClaimStrings{operatorAudience}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}},
	} {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(ops.key)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ops.Verify(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Another secret's operator token: refused.
	other, _ := NewOperators("another secret key of 32 bytes!!").Issue("alice", time.Hour)
	if _, _, err := ops.Verify(other.Token); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another key's token: %v", err)
	}
}

func TestOperatorTokenExpires(t *testing.T) {
	ops := NewOperators("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC)
	ops.SetClock(func() time.Time { return now })
	ot, err := ops.Issue("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, _, err := ops.Verify(ot.Token); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired token: %v", err)
	}
	for _, bad := range []struct {
		name string
		ttl  time.Duration
	}{{"", time.Hour}, {"has space", time.Hour}, {"alice", 0}, {"alice", MaxOperatorTTL + time.Second}} {
		if _, err := ops.Issue(bad.name, bad.ttl); err == nil {
			t.Errorf("Issue(%q, %v) succeeded", bad.name, bad.ttl)
		}
	}
}
