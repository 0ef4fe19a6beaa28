// Package ratelimit counts requests against budgets: "N per period, per key". The memory
// limiter serves one process (the embedded default); the Redis limiter shares one budget
// among every replica on the same Redis. Both use GCRA (the generic cell rate algorithm) with a
// burst equal to the rate, so a fresh key may spend its whole budget at once and then earns
// one request back every period/N.
package ratelimit

import (
	"context"
	"time"
)

// Limit is a budget: Rate requests per Period. A Rate of 0 means no limit.
type Limit struct {
	Rate   int
	Period time.Duration
}

// Off tells whether the limit is turned off.
func (l Limit) Off() bool { return l.Rate <= 0 || l.Period <= 0 }

// interval is the time in which one request is earned back.
func (l Limit) interval() time.Duration { return l.Period / time.Duration(l.Rate) }

// Result is the answer for one request.
type Result struct {
	Allowed bool
	// Limit is the budget's size (its Rate).
	Limit int
	// Remaining is how many more requests the key may make right now.
	Remaining int
	// RetryAfter is, when not allowed, the time until one request is allowed again.
	RetryAfter time.Duration
	// ResetAfter is the time until the key's whole budget is back.
	ResetAfter time.Duration
}

// Limiter takes one request from key's budget, if there is one left.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (Result, error)
}
