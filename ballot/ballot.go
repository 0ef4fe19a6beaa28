// Package ballot seals a voter's choice so that the stored ballot says nothing to anyone
// without the ballot key, and opens it again when its batch is counted.
//
// A sealed ballot is XChaCha20-Poly1305 over the option's 16-byte UUID (every plaintext has the
// same length, so neither does the ciphertext tell options apart) with a random 24-byte nonce
// and the poll's id as associated data: a ballot moved to another poll does not open. The
// random nonce also makes two ballots for one option look unrelated.
package ballot

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the length of a ballot key.
const KeySize = chacha20poly1305.KeySize

// SealedSize is the length of every sealed ballot: nonce, option id, tag.
const SealedSize = chacha20poly1305.NonceSizeX + 16 + chacha20poly1305.Overhead

// ErrUnopenable is a ballot that fails authentication: sealed under another key, for another
// poll, or altered.
var ErrUnopenable = errors.New("ballot does not open under this key and poll")

// hkdfInfo separates the ballot key from anything else derived from the same secret.
const hkdfInfo = "circly ballot box v1"

// DeriveKey derives the ballot key from a secret (SECRET_KEY or BALLOT_KEY) with HKDF-SHA256.
func DeriveKey(secret string) ([]byte, error) {
	if secret == "" {
		return nil, errors.New("ballot: empty secret")
	}
	return hkdf.Key(sha256.New, []byte(secret), nil, hkdfInfo, KeySize)
}

// Box seals and opens ballots under one key. It is safe for concurrent use.
type Box struct {
	key []byte
}

// NewBox returns a box for a KeySize-byte key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("ballot: key is %d bytes, want %d", len(key), KeySize)
	}
	return &Box{key: append([]byte(nil), key...)}, nil
}

// Fingerprint names the key without revealing it, for log lines that must tell keys apart.
func (b *Box) Fingerprint() string {
	f, _ := hkdf.Key(sha256.New, b.key, nil, "circly ballot key fingerprint", 4)
	return fmt.Sprintf("%x", f)
}

// SameKey reports whether two boxes hold the same key.
func (b *Box) SameKey(o *Box) bool { return subtle.ConstantTimeCompare(b.key, o.key) == 1 }

func aad(pollID uuid.UUID) []byte { return append([]byte("circly ballot v1 poll "), pollID[:]...) }

// Seal returns the sealed ballot for optionID in pollID.
func (b *Box) Seal(pollID, optionID string) ([]byte, error) {
	p, err := uuid.Parse(pollID)
	if err != nil {
		return nil, fmt.Errorf("ballot: poll id: %w", err)
	}
	o, err := uuid.Parse(optionID)
	if err != nil {
		return nil, fmt.Errorf("ballot: option id: %w", err)
	}
	aead, err := chacha20poly1305.NewX(b.key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, chacha20poly1305.NonceSizeX, SealedSize)
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	return aead.Seal(out, out, o[:], aad(p)), nil
}

// Open returns the option id sealed in a ballot of pollID, or ErrUnopenable.
func (b *Box) Open(pollID string, sealed []byte) (string, error) {
	p, err := uuid.Parse(pollID)
	if err != nil {
		return "", fmt.Errorf("ballot: poll id: %w", err)
	}
	if len(sealed) != SealedSize {
		return "", ErrUnopenable
	}
	aead, err := chacha20poly1305.NewX(b.key)
	if err != nil {
		return "", err
	}
	nonce, body := sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:]
	plain, err := aead.Open(nil, nonce, body, aad(p))
	if err != nil || len(plain) != 16 {
		return "", ErrUnopenable
	}
	o, err := uuid.FromBytes(plain)
	if err != nil {
		return "", ErrUnopenable
	}
	return o.String(), nil
}
