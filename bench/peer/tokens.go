package main

import (
	"errors"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokens checks access tokens the way Circly's auth package does, so a connect costs the peer
// what it costs Circly: an HS256 JWT with issuer "circly", a subject (the user id) and a
// required expiry, and a cache of tokens that verified (an app reuses one token for every
// socket it opens).
type tokens struct {
	key []byte
	now func() time.Time

	mu       sync.Mutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	subject string
	expires time.Time
}

// maxVerified bounds the cache, as Circly's does; when full it starts over.
const maxVerified = 50_000

var errToken = errors.New("token invalid or expired")

func newTokens(secret string) *tokens {
	return &tokens{key: []byte(secret), now: time.Now, verified: map[string]verifiedToken{}}
}

// verify returns the token's user id.
func (t *tokens) verify(token string) (string, error) {
	now := t.now()
	t.mu.Lock()
	v, ok := t.verified[token]
	t.mu.Unlock()
	if ok {
		if now.Before(v.expires) {
			return v.subject, nil
		}
		return "", errToken
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer("circly"),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil || claims.Subject == "" {
		return "", errToken
	}
	t.mu.Lock()
	if len(t.verified) >= maxVerified {
		clear(t.verified)
	}
	t.verified[token] = verifiedToken{subject: claims.Subject, expires: claims.ExpiresAt.Time}
	t.mu.Unlock()
	return claims.Subject, nil
}
