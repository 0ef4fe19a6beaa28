package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"regexp"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Operator tokens open the admin API and nothing else. They are signed with a key derived from
// the secret for this use alone, so a user token's signature never verifies as an operator's
// and the other way round; their audience and type say the same a second time.
const (
	operatorAudience = "circly-admin"
	operatorType     = "operator"
)

// MaxOperatorTTL bounds an operator token's lifetime.
const MaxOperatorTTL = 30 * 24 * time.Hour

var operatorName = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// ValidOperatorName tells whether a name fits an operator token and the audit log.
func ValidOperatorName(s string) bool { return operatorName.MatchString(s) }

// Operators signs and checks operator tokens.
type Operators struct {
	key []byte
	now func() time.Time
}

// NewOperators derives the operator key from the service's secret key.
func NewOperators(secret string) *Operators {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("circly operator tokens v1"))
	return &Operators{key: m.Sum(nil), now: time.Now}
}

// SetClock replaces the clock (tests).
func (o *Operators) SetClock(now func() time.Time) { o.now = now }

type operatorClaims struct {
	Type string `json:"typ"`
	jwt.RegisteredClaims
}

// OperatorToken is an issued token: its id (for revocation), operator and expiry.
type OperatorToken struct {
	ID        string
	Operator  string
	IssuedAt  time.Time
	ExpiresAt time.Time
	Token     string
}

// Issue makes a token for the named operator, valid for ttl.
func (o *Operators) Issue(operator string, ttl time.Duration) (OperatorToken, error) {
	if !ValidOperatorName(operator) {
		return OperatorToken{}, errors.New("operator: 1-64 letters, digits or . _ @ -")
	}
	if ttl <= 0 || ttl > MaxOperatorTTL {
		return OperatorToken{}, errors.New("ttl: more than 0 and at most 720h")
	}
	now := o.now().UTC().Truncate(time.Second)
	t := OperatorToken{ID: uuid.NewString(), Operator: operator, IssuedAt: now, ExpiresAt: now.Add(ttl)}
	claims := operatorClaims{Type: operatorType, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: issuer, Subject: operator, Audience: jwt.ClaimStrings{operatorAudience}, ID: t.ID,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(t.ExpiresAt),
	}}
	var err error
	t.Token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(o.key)
	return t, err
}

// Verify checks an operator token's signature, type, audience and expiry and returns the
// operator and the token id. Whether it was revoked is the store's to say.
func (o *Operators) Verify(token string) (operator, id string, err error) {
	var claims operatorClaims
	_, err = jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return o.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(operatorAudience),
		jwt.WithTimeFunc(o.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", "", ErrExpired
	case err != nil:
		return "", "", ErrInvalid
	case claims.Type != operatorType || !ValidOperatorName(claims.Subject) || uuid.Validate(claims.ID) != nil:
		return "", "", ErrInvalid
	}
	return claims.Subject, claims.ID, nil
}
