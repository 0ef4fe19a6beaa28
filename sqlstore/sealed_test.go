package sqlstore_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"circly"
	"circly/ballot"
	"circly/internal/testdb"
	"circly/internal/testkit"
	"circly/sqlstore"

	"gorm.io/gorm"
)

// heapVersion is one stored version of a polls row, live or dead, read off the heap pages.
type heapVersion struct {
	PollID        string
	Xmin          string
	ReleasedTotal int
	Version       int
	Closed        bool
}

// pollHeap reads every committed version of every polls row still on the heap with
// pageinspect: what someone holding the data files sees, dead versions included. (An opening
// that lost a race to another opener leaves an aborted version: it adds a batch too, and is
// left out so that versions can be ordered.)
func pollHeap(t *testing.T, db *sqlstore.DB) []heapVersion {
	t.Helper()
	var attnum struct{ ID, Total, Version, Closed int }
	must(t, db.Gorm.Raw(`SELECT
			(SELECT attnum FROM pg_attribute WHERE attrelid = 'polls'::regclass AND attname = 'id') AS id,
			(SELECT attnum FROM pg_attribute WHERE attrelid = 'polls'::regclass AND attname = 'released_total') AS total,
			(SELECT attnum FROM pg_attribute WHERE attrelid = 'polls'::regclass AND attname = 'released_version') AS version,
			(SELECT attnum FROM pg_attribute WHERE attrelid = 'polls'::regclass AND attname = 'closed_at') AS closed`).
		Take(&attnum).Error)
	var rows []struct {
		Xmin               string
		ID, Total, Version []byte
		Closed             []byte
	}
	// pageinspect's SQL wrappers call each other unqualified: public must be on the path.
	tx := db.Gorm.Begin()
	defer tx.Rollback()
	must(t, tx.Exec(`SELECT set_config('search_path', current_setting('search_path') || ', public', true)`).Error)
	must(t, tx.Raw(fmt.Sprintf(`SELECT h.t_xmin::text AS xmin, h.t_attrs[%d] AS id, h.t_attrs[%d] AS total,
			h.t_attrs[%d] AS version, h.t_attrs[%d] AS closed
		FROM generate_series(0, pg_relation_size('polls') / current_setting('block_size')::int - 1) AS blk,
			LATERAL public.heap_page_item_attrs(public.get_raw_page('polls', blk::int), 'polls'::regclass, false) AS h
		WHERE h.t_attrs IS NOT NULL AND pg_xact_status(h.t_xmin::text::xid8) = 'committed'`, attnum.ID, attnum.Total, attnum.Version, attnum.Closed)).Scan(&rows).Error)
	out := make([]heapVersion, len(rows))
	for i, r := range rows {
		out[i] = heapVersion{
			PollID: fmt.Sprintf("%x-%x-%x-%x-%x", r.ID[0:4], r.ID[4:6], r.ID[6:8], r.ID[8:10], r.ID[10:16]),
			Xmin:   r.Xmin, ReleasedTotal: int(int32(binary.LittleEndian.Uint32(r.Total))),
			Version: int(int32(binary.LittleEndian.Uint32(r.Version))), Closed: r.Closed != nil,
		}
	}
	return out
}

// pageinspect is in PostgreSQL's own packages; CI must have it, so a missing one fails.
func needPageinspect(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		err := db.Gorm.Exec(`CREATE EXTENSION IF NOT EXISTS pageinspect SCHEMA public`).Error
		if err == nil {
			return
		}
		if attempt == 3 { // packages creating it at once can collide; a retry sees it made
			t.Fatalf("pageinspect (PostgreSQL's contrib) is needed to read row versions: %v", err)
		}
	}
}

// TestDatabaseCannotTellWhoChoseWhat plays someone holding the PostgreSQL data files: after
// votes on several polls from two stores (two replicas' worth of connections) racing, no
// version of a poll row, live or dead, was written by a transaction that wrote a participant
// row, and consecutive versions of a poll differ by at least a batch of ballots, except at
// close. The waiting ballots do not open under another key or for another poll.
func TestDatabaseCannotTellWhoChoseWhat(t *testing.T) {
	db := testdb.Open(t, sqlstore.Postgres)
	needPageinspect(t, db)
	must(t, db.Gorm.Exec(`ALTER TABLE polls SET (autovacuum_enabled = false)`).Error)
	holdRowVersions(t, db)
	e := newEnv(t, db, noPollLimits()) // batch 3
	replica2 := sqlstore.NewStore(db, e.s.Policy(), testkit.Ballots())
	replica2.SetClock(e.clock.Now)
	stores := []*sqlstore.Store{e.s, replica2}

	fx := e.circle(10, 10)
	var polls []circly.Poll
	for i := range 3 {
		polls = append(polls, e.poll(fx, i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for pi, p := range polls {
		for v := range 10 {
			if v == pi { // each creator sits one poll out, so the polls end with 9 votes: 3 batches
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				target := fx.Members[(v+1)%10].ID
				if target == p.CreatorMemberID {
					target = fx.Members[(v+2)%10].ID
				}
				_, err := stores[v%2].Vote(e.ctx, fx.Users[v].ID, circly.VoteRequest{PollID: p.ID, OptionID: optionOf(t, p, target)})
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	// One more vote waits sealed in the first poll's box: another key or poll must not open it.
	q := e.poll(fx, 9)
	e.vote(fx.Users[1].ID, q.ID, optionOf(t, q, fx.Members[2].ID))
	var sealed []byte
	must(t, db.SQL().QueryRow(`SELECT sealed FROM ballots WHERE poll_id = $1`, q.ID).Scan(&sealed))
	if len(sealed) != ballot.SealedSize {
		t.Fatalf("waiting ballot has %d bytes, want %d", len(sealed), ballot.SealedSize)
	}
	k, _ := ballot.DeriveKey("some other deployment's key, 32+ bytes")
	other, _ := ballot.NewBox(k)
	if _, err := other.Open(q.ID, sealed); err == nil {
		t.Fatal("a ballot opened under another key")
	}
	if _, err := testkit.Ballots().Open(polls[0].ID, sealed); err == nil {
		t.Fatal("a ballot opened as a ballot of another poll")
	}
	for _, p := range polls {
		_, err := e.s.ClosePoll(e.ctx, p.ID)
		must(t, err)
	}

	var pxmins []string
	must(t, db.Gorm.Raw(`SELECT xmin::text FROM poll_participants`).Scan(&pxmins).Error)
	participant := map[string]bool{}
	for _, x := range pxmins {
		participant[x] = true
	}
	if len(participant) < 27 {
		t.Fatalf("%d participant transactions, want one per vote (28)", len(participant))
	}
	byPoll := map[string][]heapVersion{}
	for _, v := range pollHeap(t, db) {
		if participant[v.Xmin] {
			t.Fatalf("poll %s version %d was written by a voter's transaction (xmin %s)", v.PollID, v.Version, v.Xmin)
		}
		byPoll[v.PollID] = append(byPoll[v.PollID], v)
	}
	batch := e.s.Policy().TallyReleaseBatch
	for _, p := range polls {
		vs := byPoll[p.ID]
		sort.Slice(vs, func(i, j int) bool { return vs[i].Version < vs[j].Version })
		if len(vs) < 2 {
			t.Fatalf("poll %s: %d heap versions; pageinspect saw too little to judge", p.ID, len(vs))
		}
		for i := 1; i < len(vs); i++ {
			d := vs[i].ReleasedTotal - vs[i-1].ReleasedTotal
			if !vs[i].Closed && d < batch {
				t.Fatalf("poll %s: versions %d → %d differ by %d ballots, less than a batch of %d",
					p.ID, vs[i-1].Version, vs[i].Version, d, batch)
			}
		}
		if last := vs[len(vs)-1]; !last.Closed || last.ReleasedTotal != 9 {
			t.Fatalf("poll %s: last version %+v, want closed with 9 votes", p.ID, last)
		}
	}
}

// TestTwoReplicasOpenEachBallotOnce: 49 members of one poll vote at once through two stores
// on one database (two replicas' worth of openers racing for the same box) at the default
// batch. Every ballot is counted exactly once, every release is exactly one batch, and the
// close counts the rest.
func TestTwoReplicasOpenEachBallotOnce(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db)
		other := sqlstore.NewStore(db, e.s.Policy(), testkit.Ballots())
		other.SetClock(e.clock.Now)
		stores := []*sqlstore.Store{e.s, other}
		fx := e.circle(50, 50)
		p := e.poll(fx, 0)
		want := map[string]int{}
		picks := make([]string, len(fx.Users))
		for i := 1; i < len(fx.Users); i++ {
			target := i%3 + 1
			if target == i { // never one's own option
				target += 3
			}
			picks[i] = optionOf(t, p, fx.Members[target].ID)
			want[picks[i]]++
		}
		errs := race(len(fx.Users)-1, func(i int) error {
			_, err := stores[i%2].Vote(e.ctx, fx.Users[i+1].ID, circly.VoteRequest{PollID: p.ID, OptionID: picks[i+1]})
			return err
		})
		if ok, codes := tallyErrors(t, errs); ok != 49 {
			t.Fatalf("%d of 49 ballots accepted, errors %v", ok, codes)
		}
		e.checkPollInvariants(p.ID, 49)
		tl, err := e.s.Tally(e.ctx, p.ID)
		must(t, err)
		if tl.TotalVotes != 48 || tl.Version != 16 { // 16 batches of 3; one ballot waits
			t.Fatalf("released %d votes at version %d, want 48 at 16", tl.TotalVotes, tl.Version)
		}
		closed, err := other.ClosePoll(e.ctx, p.ID)
		must(t, err)
		if !closed {
			t.Fatal("close failed")
		}
		final, err := e.s.GetPoll(e.ctx, fx.Users[0].ID, p.ID)
		must(t, err)
		for id, n := range counts(final) {
			if n != want[id] {
				t.Fatalf("option %s has %d votes, want %d", id, n, want[id])
			}
		}
		if final.TotalVotes != 49 {
			t.Fatalf("final total %d, want 49", final.TotalVotes)
		}
	})
}

// TestVoteNeverSendsTheChoice: an accepted vote sends the database its sealed ballot and never
// the chosen option beside the voter, so not even a server that logs statement parameters can
// pair them. (A refused vote may name the option: it is no ballot.)
func TestVoteNeverSendsTheChoice(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		var mu sync.Mutex
		var sent []string
		spy := func(tx *gorm.DB) {
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, tx.Statement.SQL.String())
			for _, v := range tx.Statement.Vars {
				sent = append(sent, fmt.Sprint(v))
			}
		}
		cb := db.Gorm.Callback()
		must(t, cb.Raw().After("gorm:raw").Register("test:spy_raw", spy))
		must(t, cb.Row().After("gorm:row").Register("test:spy_row", spy))
		must(t, cb.Query().After("gorm:query").Register("test:spy_query", spy))
		for _, batch := range []int{1, 3} {
			e := newEnv(t, db, func(p *circly.Policy) { p.TallyReleaseBatch = batch })
			fx := e.circle(5, 10)
			p := e.poll(fx, 0)
			for v := 1; v <= 4; v++ {
				opt := optionOf(t, p, fx.Members[v%4+1].ID)
				mu.Lock()
				sent = nil
				mu.Unlock()
				_, err := e.s.Vote(e.ctx, fx.Users[v].ID, circly.VoteRequest{PollID: p.ID, OptionID: opt, IdempotencyKey: fmt.Sprint("k", batch, v)})
				must(t, err)
				mu.Lock()
				if len(sent) == 0 {
					t.Fatal("the spy saw no statement")
				}
				for _, x := range sent {
					if strings.Contains(x, opt) {
						t.Fatalf("batch %d, vote %d: a statement carried the chosen option: %.200s", batch, v, x)
					}
				}
				mu.Unlock()
			}
		}
	})
}

// TestOpeningJobCountsOneVersionPerBatch: ballots whose votes did not open them (a replica died
// between sealing and opening) are opened by the job, several batches at once, and the tally's
// version still moves by one per batch, exactly as if each vote had opened its own.
func TestOpeningJobCountsOneVersionPerBatch(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, batch(2))
		fx := e.circle(4, 10)
		p := e.poll(fx, 0)
		target := optionOf(t, p, fx.Members[1].ID)
		before, err := e.s.Tally(e.ctx, p.ID)
		must(t, err)
		box := testkit.Ballots()
		for range 5 { // two whole batches and one ballot waiting
			sealed, err := box.Seal(p.ID, target)
			must(t, err)
			must(t, db.Gorm.Exec(`INSERT INTO ballots (poll_id, sealed) VALUES (?, ?)`, p.ID, sealed).Error)
		}
		tl, released, err := e.s.OpenBallots(e.ctx, p.ID)
		must(t, err)
		if !released || tl.TotalVotes != before.TotalVotes+4 || tl.Version != before.Version+2 {
			t.Fatalf("opened to %d votes at version %d (released %v), want %d at %d",
				tl.TotalVotes, tl.Version, released, before.TotalVotes+4, before.Version+2)
		}
		if n := e.scalar(`SELECT count(*) FROM ballots WHERE poll_id = ?`, p.ID); n != 1 {
			t.Fatalf("%d ballots wait, want the 1 short of a batch", n)
		}
	})
}

// holdRowVersions keeps every row version of this test readable by pageinspect: PostgreSQL
// prunes dead versions on its own whenever a page fills up and no snapshot still needs them, so
// a snapshot held open from here to the end of the test keeps them all on the page.
func holdRowVersions(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	must(t, err)
	_, err = conn.ExecContext(ctx, `BEGIN ISOLATION LEVEL REPEATABLE READ`)
	must(t, err)
	var one int
	must(t, conn.QueryRowContext(ctx, `SELECT 1`).Scan(&one)) // takes the snapshot
	t.Cleanup(func() {
		_, _ = conn.ExecContext(ctx, `ROLLBACK`)
		_ = conn.Close()
	})
}
