package ballot_test

import (
	"bytes"
	"errors"
	"testing"

	"circly/ballot"

	"github.com/google/uuid"
)

func box(t *testing.T, secret string) *ballot.Box {
	t.Helper()
	k, err := ballot.DeriveKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ballot.NewBox(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpens(t *testing.T) {
	b := box(t, "a secret of some length, say thirty-two")
	poll, opt := uuid.NewString(), uuid.NewString()
	s, err := b.Seal(poll, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != ballot.SealedSize {
		t.Fatalf("sealed %d bytes, want %d", len(s), ballot.SealedSize)
	}
	if bytes.Contains(s, uuid.MustParse(opt).NodeID()) {
		t.Fatal("the sealed ballot shows the option id in clear")
	}
	got, err := b.Open(poll, s)
	if err != nil || got != opt {
		t.Fatalf("open = %q, %v; want %q", got, err, opt)
	}
}

// Two ballots for the same option must not look alike, and every ballot has the same length.
func TestSealIsRandomized(t *testing.T) {
	b := box(t, "secret-secret-secret-secret-secret")
	poll, opt := uuid.NewString(), uuid.NewString()
	x, _ := b.Seal(poll, opt)
	y, _ := b.Seal(poll, opt)
	z, _ := b.Seal(poll, uuid.NewString())
	if bytes.Equal(x, y) || bytes.Equal(x[:24], y[:24]) {
		t.Fatal("two ballots for one option share bytes or a nonce")
	}
	if len(x) != len(z) {
		t.Fatal("ballots for different options differ in length")
	}
}

func TestOpenRefusesAnotherKeyPollOrTampering(t *testing.T) {
	b := box(t, "one secret that is long enough....")
	other := box(t, "another secret that is long enough")
	poll, opt := uuid.NewString(), uuid.NewString()
	s, _ := b.Seal(poll, opt)
	if _, err := other.Open(poll, s); !errors.Is(err, ballot.ErrUnopenable) {
		t.Fatalf("another key: %v", err)
	}
	if _, err := b.Open(uuid.NewString(), s); !errors.Is(err, ballot.ErrUnopenable) {
		t.Fatalf("another poll: %v", err)
	}
	for i := range s {
		bad := bytes.Clone(s)
		bad[i] ^= 1
		if _, err := b.Open(poll, bad); !errors.Is(err, ballot.ErrUnopenable) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	if _, err := b.Open(poll, s[:len(s)-1]); !errors.Is(err, ballot.ErrUnopenable) {
		t.Fatalf("short: %v", err)
	}
	if b.SameKey(other) || !b.SameKey(box(t, "one secret that is long enough....")) {
		t.Fatal("SameKey")
	}
	if b.Fingerprint() == other.Fingerprint() {
		t.Fatal("fingerprints of two keys agree")
	}
}

func TestKeys(t *testing.T) {
	if _, err := ballot.DeriveKey(""); err == nil {
		t.Fatal("an empty secret derived a key")
	}
	if _, err := ballot.NewBox(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
	a, _ := ballot.DeriveKey("x")
	if bytes.Equal(a, []byte("x")) || len(a) != ballot.KeySize {
		t.Fatal("derivation")
	}
}
