package sqlstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"circly"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// The ballot box: each vote leaves one sealed ballot in `ballots` (poll id and sealed bytes,
// nothing else), and only opening a batch, in a transaction that writes no participant row,
// changes the released tally (see Vote).

// The opening's statements, like the cast's (cast.go): openBox and the close run them on both
// databases, and circly_open, the one-round-trip opening of the batch a vote picked, is
// generated from them (plpgsql.go). Parameters: @poll; @sealed, the ballots being opened;
// @counts, @total and @version, the released tally they make.
const (
	// lockReleaseSQL reads an open poll's released tally; with the row lock (forUpdate) it
	// waits for votes in flight. No row: the poll is closed (its close opened everything).
	lockReleaseSQL = `SELECT released_total, released_version, released_counts FROM polls
        WHERE id = @poll AND closed_at IS NULL`

	// takeSQL takes the ballots being opened out of the box; each is deleted once, so each is
	// counted once, whoever opens it.
	takeSQL = `DELETE FROM ballots WHERE poll_id = @poll AND sealed IN @sealed`

	// releaseSQL writes the tally the opened ballots make, to an open poll only.
	releaseSQL = `UPDATE polls SET released_counts = @counts, released_total = @total, released_version = @version
        WHERE id = @poll AND closed_at IS NULL`
)

// errNotDue rolls back an opening that found fewer ballots than a batch.
var errNotDue = errors.New("fewer ballots than a batch")

// A release opens exactly one batch, so the tally moves as it always has: every release adds
// TALLY_RELEASE_BATCH ballots (at 1, every vote is its own release). The vote that completes a
// batch opens its own ballot and batch-1 others picked at random from those waiting; the
// opening job opens every whole batch that waits; the close opens everything.
type openMode int

const (
	openOwnBatch   openMode = iota // the voter's ballot and batch-1 others
	openAllBatches                 // as many whole batches as wait
	openEverything                 // every waiting ballot (before rolling back the box)
)

// pickBatch chooses the ballots a vote opens from those waiting: its own first, then batch-1
// others at random. nil when its own is no longer waiting (another opener took it) or fewer
// than a batch wait.
func pickBatch(waiting [][]byte, own []byte, batch int) [][]byte {
	if len(waiting) < batch {
		return nil
	}
	var others [][]byte
	found := false
	for _, b := range waiting {
		if bytes.Equal(b, own) {
			found = true
		} else {
			others = append(others, b)
		}
	}
	if !found {
		return nil
	}
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	return append([][]byte{own}, others[:batch-1]...)
}

// openDue opens the batch a vote completed. On PostgreSQL the ballots it picked go to
// circly_open in one round trip; when another opener took one of them first it picks again in
// a transaction of its own (openBox). opened is false when its ballot was opened by another
// opener; t is then the current tally.
func (s *Store) openDue(ctx context.Context, pollID string, own []byte, waiting [][]byte) (t circly.Tally, opened bool, err error) {
	take := pickBatch(waiting, own, s.policy.TallyReleaseBatch)
	if s.dialect != Postgres || take == nil {
		return s.openBox(ctx, pollID, own, openOwnBatch)
	}
	db := s.conn(ctx)
	ids, err := s.optionIDs(db, pollID)
	if err != nil {
		return circly.Tally{}, false, err
	}
	add, err := s.countBallots(pollID, ids, make([]int, len(ids)), take)
	if err != nil {
		return circly.Tally{}, false, err
	}
	var r struct {
		OOpened          bool
		OReleasedTotal   int
		OReleasedVersion int
		OReleasedCounts  string
	}
	err = db.Raw(`SELECT o_opened, coalesce(o_released_total, 0) AS o_released_total,
			coalesce(o_released_version, 0) AS o_released_version, coalesce(o_released_counts, '') AS o_released_counts
		FROM circly_open(?, ?, ?)`, pollID, hexList(take), countsText(Postgres, add)).Scan(&r).Error
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "CV004" {
		return s.openBox(ctx, pollID, own, openOwnBatch)
	}
	if err != nil {
		return circly.Tally{}, false, err
	}
	if !r.OOpened {
		t, err := s.tally(ctx, pollID, false)
		return t, false, err
	}
	counts, err := parseCounts(r.OReleasedCounts)
	if err != nil {
		return circly.Tally{}, false, err
	}
	return tallyOf(pollID, r.OReleasedVersion, r.OReleasedTotal, false, ids, counts), true, nil
}

// openBox opens ballots of an open poll as mode says, in one transaction: it locks the poll
// row, deletes the ballots it opens, counts them into the released tally and bumps its version.
// Openers of one poll take turns on the row lock and each ballot is deleted once, so each is
// counted exactly once, on any replica.
func (s *Store) openBox(ctx context.Context, pollID string, own []byte, mode openMode) (t circly.Tally, opened bool, err error) {
	batch := s.policy.TallyReleaseBatch
	err = s.tx(ctx, func(tx *gorm.DB) error {
		r, ok, err := s.lockRelease(tx, pollID)
		if err != nil {
			return err
		}
		if !ok {
			return errNotDue // closed: the close opened everything
		}
		var waiting [][]byte
		if err := tx.Raw(`SELECT sealed FROM ballots WHERE poll_id = ?`, pollID).Scan(&waiting).Error; err != nil {
			return err
		}
		var take [][]byte
		switch mode {
		case openOwnBatch:
			take = pickBatch(waiting, own, batch)
		case openAllBatches:
			take = waiting[:len(waiting)/batch*batch]
		case openEverything:
			take = waiting
		}
		if len(take) == 0 {
			return errNotDue
		}
		counts, err := s.countBallots(pollID, r.ids, r.counts, take)
		if err != nil {
			return err
		}
		res := tx.Exec(takeSQL, map[string]any{"poll": pollID, "sealed": take})
		if res.Error != nil {
			return res.Error
		}
		if int(res.RowsAffected) != len(take) { // cannot happen under the row lock; never count twice
			return fmt.Errorf("poll %s: deleted %d of %d ballots being opened", pollID, res.RowsAffected, len(take))
		}
		// One version per batch, as if each batch's own vote had opened it: the job that opens
		// several batches at once moves the tally as far as their votes would have.
		total, version := r.total+len(take), r.version+max(1, len(take)/batch)
		if err := tx.Exec(releaseSQL, map[string]any{"poll": pollID, "counts": countsText(s.dialect, counts),
			"total": total, "version": version}).Error; err != nil {
			return err
		}
		t, opened = tallyOf(pollID, version, total, false, r.ids, counts), true
		return nil
	})
	if errors.Is(err, errNotDue) {
		t, err = s.tally(ctx, pollID, false)
		return t, false, err
	}
	return t, opened, err
}

// OpenBallots opens every whole batch waiting in a poll's box (the opening job's step, for
// batches whose vote could not open them). released tells whether a new tally came out.
func (s *Store) OpenBallots(ctx context.Context, pollID string) (t circly.Tally, released bool, err error) {
	return s.openBox(ctx, pollID, nil, openAllBatches)
}

// DueBoxes lists open polls with at least a batch of ballots waiting.
func (s *Store) DueBoxes(ctx context.Context, limit int) ([]string, error) {
	ids := []string{}
	err := s.conn(ctx).Raw(`SELECT b.poll_id FROM ballots b JOIN polls p ON p.id = b.poll_id AND p.closed_at IS NULL
		GROUP BY b.poll_id HAVING count(*) >= ? LIMIT ?`, s.policy.TallyReleaseBatch, limit).Scan(&ids).Error
	return ids, err
}

// takeBallots deletes and returns a poll's waiting ballots (the caller holds the poll row).
func (s *Store) takeBallots(tx *gorm.DB, pollID string) ([][]byte, error) {
	var sealed [][]byte
	err := tx.Raw(`DELETE FROM ballots WHERE poll_id = ? RETURNING sealed`, pollID).Scan(&sealed).Error
	return sealed, err
}

// countBallots opens sealed ballots of a poll and adds each to counts (by display order). One
// ballot that does not open fails the whole batch: nothing is deleted, and the log says so.
func (s *Store) countBallots(pollID string, optionIDs []string, counts []int, sealed [][]byte) ([]int, error) {
	pos := make(map[string]int, len(optionIDs))
	for i, id := range optionIDs {
		pos[id] = i
	}
	for len(counts) < len(optionIDs) {
		counts = append(counts, 0)
	}
	for _, b := range sealed {
		opt, err := s.box.Open(pollID, b)
		if err != nil {
			return nil, fmt.Errorf("poll %s: %d waiting ballots, one does not open under ballot key %s: %w",
				pollID, len(sealed), s.box.Fingerprint(), err)
		}
		i, ok := pos[opt]
		if !ok {
			return nil, fmt.Errorf("poll %s: a ballot names an option of no such poll", pollID)
		}
		counts[i]++
	}
	return counts, nil
}

// closePollTx closes an open poll and opens every ballot still waiting, in the caller's
// transaction: the final released tally is the exact one. false when the poll was already
// closed. Votes in flight hold the poll row locked, so the lock waits for them, and a vote
// that waited for the close sees it closed.
func (s *Store) closePollTx(tx *gorm.DB, pollID string, now time.Time) (bool, error) {
	r, ok, err := s.lockRelease(tx, pollID)
	if err != nil || !ok {
		return false, err
	}
	sealed, err := s.takeBallots(tx, pollID)
	if err != nil {
		return false, err
	}
	counts, err := s.countBallots(pollID, r.ids, r.counts, sealed)
	if err != nil {
		return false, err
	}
	err = tx.Exec(`UPDATE polls SET closed_at = ?, released_counts = ?, released_total = ?,
		released_version = released_version + 1 WHERE id = ?`,
		now, countsText(s.dialect, counts), r.total+len(sealed), pollID).Error
	return err == nil, err
}

// release is an open poll's released tally as an opening or the close adds ballots to it.
type release struct {
	total, version int
	counts         []int    // by display order
	ids            []string // option ids in display order
}

// lockRelease locks an open poll's row (waiting for votes in flight) and reads its released
// tally; ok is false when the poll is closed or gone.
func (s *Store) lockRelease(tx *gorm.DB, pollID string) (r release, ok bool, err error) {
	var p struct {
		ReleasedTotal   int
		ReleasedVersion int
		ReleasedCounts  string
	}
	res := tx.Raw(lockReleaseSQL+s.forUpdate(), map[string]any{"poll": pollID}).Scan(&p)
	if res.Error != nil || res.RowsAffected == 0 {
		return release{}, false, res.Error
	}
	if r.counts, err = parseCounts(p.ReleasedCounts); err != nil {
		return release{}, false, err
	}
	if r.ids, err = s.optionIDs(tx, pollID); err != nil {
		return release{}, false, err
	}
	r.total, r.version = p.ReleasedTotal, p.ReleasedVersion
	return r, true, nil
}

// CheckBallotKey opens a sample of the waiting ballots: a service started with a key other than
// the one that sealed them would leave them unopened, so start-up refuses it.
func (s *Store) CheckBallotKey(ctx context.Context) error {
	var rows []struct {
		PollID string
		Sealed []byte
	}
	if err := s.conn(ctx).Raw(`SELECT poll_id, sealed FROM ballots LIMIT 20`).Scan(&rows).Error; err != nil {
		return err
	}
	bad := 0
	for _, r := range rows {
		if _, err := s.box.Open(r.PollID, r.Sealed); err != nil {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("BALLOT_KEY: %d of %d waiting ballots do not open under this key (fingerprint %s); "+
			"start with the BALLOT_KEY or SECRET_KEY that sealed them", bad, len(rows), s.box.Fingerprint())
	}
	return nil
}

// OpenAllBallots opens every waiting ballot of every open poll, whatever the batch size: the
// step before rolling back the sealed-ballot migration, whose older schema has no box.
func (s *Store) OpenAllBallots(ctx context.Context) (polls int, err error) {
	ids := []string{}
	if err := s.conn(ctx).Raw(`SELECT DISTINCT poll_id FROM ballots`).Scan(&ids).Error; err != nil {
		return 0, err
	}
	for _, id := range ids {
		if _, opened, err := s.openBox(ctx, id, nil, openEverything); err != nil {
			return polls, err
		} else if opened {
			polls++
		}
	}
	return polls, nil
}

// AuditPoll reads a poll's bookkeeping. It is for operators and tests.
func (s *Store) AuditPoll(ctx context.Context, pollID string) (circly.PollAudit, error) {
	db := s.conn(ctx)
	var p struct {
		ReleasedTotal  int
		ReleasedCounts string
		Participants   int
		Waiting        int
	}
	if err := db.Raw(`SELECT released_total, released_counts,
			(SELECT count(*) FROM poll_participants pp WHERE pp.poll_id = p.id) AS participants,
			(SELECT count(*) FROM ballots b WHERE b.poll_id = p.id) AS waiting
		FROM polls p WHERE id = ?`, pollID).Take(&p).Error; err != nil {
		return circly.PollAudit{}, notFound(err, circly.ErrPollNotFound)
	}
	counts, err := parseCounts(p.ReleasedCounts)
	if err != nil {
		return circly.PollAudit{}, err
	}
	a := circly.PollAudit{Participants: p.Participants, Waiting: p.Waiting, Released: p.ReleasedTotal, Counts: counts}
	for _, c := range counts {
		a.CountSum += c
	}
	return a, nil
}

// hexList is ballots as circly_open takes them: hex, comma-separated.
func hexList(sealed [][]byte) string {
	parts := make([]string, len(sealed))
	for i, b := range sealed {
		parts[i] = hex.EncodeToString(b)
	}
	return strings.Join(parts, ",")
}

// parseHexList reads circly_vote's o_due.
func parseHexList(s string) ([][]byte, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([][]byte, len(parts))
	for i, p := range parts {
		b, err := hex.DecodeString(p)
		if err != nil {
			return nil, fmt.Errorf("bad ballot list: %w", err)
		}
		out[i] = b
	}
	return out, nil
}
