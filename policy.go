package circly

import "time"

// Policy holds the product rules the store enforces inside its transactions.
type Policy struct {
	TallyReleaseBatch int           // votes gathered before a tally is released
	PollOpenLimit     int           // open polls per circle; 0 = no limit
	PollDailyLimit    int           // polls per user per local day; 0 = no limit
	PollMinDuration   time.Duration // shortest poll
	PollMaxDuration   time.Duration // longest poll
	InviteTTL         time.Duration // lifetime of an invite code and link
	RefreshTokenTTL   time.Duration
	IdempotencyTTL    time.Duration // how long a vote's Idempotency-Key is remembered
	// Pending reports from this many distinct reporters hide a poll (restrict a membership)
	// in the report's own transaction; 0 = never. Never 1: one person must not hide alone.
	ReportHidePollAt   int
	ReportHideMemberAt int
}

// DefaultPolicy is the contract's defaults.
func DefaultPolicy() Policy {
	return Policy{
		TallyReleaseBatch:  3,
		PollOpenLimit:      3,
		PollDailyLimit:     5,
		PollMinDuration:    5 * time.Minute,
		PollMaxDuration:    24 * time.Hour,
		InviteTTL:          24 * time.Hour,
		RefreshTokenTTL:    30 * 24 * time.Hour,
		IdempotencyTTL:     24 * time.Hour,
		ReportHidePollAt:   3,
		ReportHideMemberAt: 5,
	}
}

// Page is a window into a list.
type Page struct {
	Limit  int
	Offset int
}
