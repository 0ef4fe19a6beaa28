// Package sqlstore keeps the domain (package circly) in SQL: PostgreSQL or SQLite through GORM,
// the migrations, and every query and transaction that keeps an invariant. It is a pure
// callee: it never calls back up into the app that uses it.
package sqlstore

import (
	"context"
	"errors"
	"time"

	"circly"
	"circly/ballot"

	"gorm.io/gorm"
)

// Store runs every query and transaction of the service.
type Store struct {
	db      *gorm.DB
	dialect Dialect
	policy  circly.Policy
	now     func() time.Time
	// optionCache maps poll id to its options (they never change; see pollOptions).
	optionCache *boundedCache[pollOptions]
	box         *ballot.Box // seals and opens ballots (box.go)
}

// NewStore wraps an open database. Every replica of a deployment needs the same ballot box key.
func NewStore(db *DB, policy circly.Policy, box *ballot.Box) *Store {
	if policy.TallyReleaseBatch < 1 {
		policy.TallyReleaseBatch = 1
	}
	if box == nil {
		panic("sqlstore.NewStore: a ballot box is required")
	}
	return &Store{db: db.Gorm, dialect: db.Dialect, policy: policy, now: time.Now, optionCache: newBoundedCache[pollOptions](20_000), box: box}
}

// SetClock replaces the store's clock (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Policy returns the rules the store was built with.
func (s *Store) Policy() circly.Policy { return s.policy }

// Now is the store's current time in UTC at the database's precision.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Store) conn(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// tx runs fn in a transaction and turns database failures into DATABASE_ERROR-free errors
// the caller can wrap; client errors (*circly.Error) pass through untouched.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.conn(ctx).Transaction(fn)
}

// forUpdate locks selected rows on PostgreSQL. SQLite has one writer connection, which
// already serializes transactions. The lock is NO KEY UPDATE: it serializes writers of the row
// but lets other transactions insert rows that reference it (notifications of a circle's
// members), which a plain FOR UPDATE would turn into deadlocks. Deleting a row needs FOR UPDATE.
func (s *Store) forUpdate() string {
	if s.dialect == Postgres {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

// notFound maps GORM's missing-row error to a store sentinel.
func notFound(err error, sentinel *circly.Error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return sentinel
	}
	return err
}
