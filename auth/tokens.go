// Package auth issues and verifies Circly's access tokens (HS256 JWTs whose subject is the
// user id).
package auth

import (
	"errors"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors a token check can end in.
var (
	ErrExpired = errors.New("token expired")
	ErrInvalid = errors.New("token invalid")
)

const issuer = "circly"

// Tokens signs and checks access tokens with one secret key.
type Tokens struct {
	key []byte
	ttl time.Duration
	now func() time.Time

	// verified remembers tokens that passed Verify, until they expire: an app sends the same
	// token with every request and WebSocket it opens, and parsing a JWT (two JSON decodes and
	// an HMAC) was most of a WebSocket handshake's cost. The key is the whole token, so only
	// the exact bytes that verified are let through.
	mu       sync.Mutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	subject string
	expires time.Time
}

// maxVerified bounds the memory of the verified-token cache (a few hundred bytes an entry);
// when full it starts over.
const maxVerified = 50_000

// NewTokens makes a signer for the given key and access-token lifetime.
func NewTokens(secret string, ttl time.Duration) *Tokens {
	return &Tokens{key: []byte(secret), ttl: ttl, now: time.Now, verified: map[string]verifiedToken{}}
}

// TTL is the access-token lifetime.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue makes an access token for a user.
func (t *Tokens) Issue(userID string) (string, error) {
	now := t.now()
	claims := jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   userID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.key)
}

// Verify checks a token's signature, algorithm, issuer and expiry and returns its user id.
func (t *Tokens) Verify(token string) (string, error) {
	now := t.now()
	t.mu.Lock()
	v, ok := t.verified[token]
	t.mu.Unlock()
	if ok {
		if now.Before(v.expires) {
			return v.subject, nil
		}
		return "", ErrExpired
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(issuer),
		jwt.WithTimeFunc(t.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", ErrExpired
	case err != nil:
		return "", ErrInvalid
	case claims.Subject == "":
		return "", ErrInvalid
	}
	t.mu.Lock()
	if len(t.verified) >= maxVerified {
		clear(t.verified)
	}
	t.verified[token] = verifiedToken{subject: claims.Subject, expires: claims.ExpiresAt.Time}
	t.mu.Unlock()
	return claims.Subject, nil
}
