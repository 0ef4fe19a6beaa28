// Package auth issues and verifies Circly's access tokens (HS256 JWTs whose subject is the
// user id).
package auth

import (
	"errors"
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
}

// NewTokens makes a signer for the given key and access-token lifetime.
func NewTokens(secret string, ttl time.Duration) *Tokens {
	return &Tokens{key: []byte(secret), ttl: ttl, now: time.Now}
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
	return claims.Subject, nil
}
