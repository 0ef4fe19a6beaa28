package sqlstore_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"circly"
	"circly/internal/testdb"
	"circly/sqlstore"
)

// foreignKeys lists (table, referenced table) pairs.
func foreignKeys(t *testing.T, db *sqlstore.DB) [][2]string {
	t.Helper()
	q := `SELECT m.name AS from_table, f."table" AS to_table FROM sqlite_master m, pragma_foreign_key_list(m.name) f
		WHERE m.type = 'table'`
	if db.Dialect == sqlstore.Postgres {
		q = `SELECT conrelid::regclass::text AS from_table, confrelid::regclass::text AS to_table FROM pg_constraint
			WHERE contype = 'f' AND connamespace = current_schema()::regnamespace`
	}
	var rows []struct{ FromTable, ToTable string }
	if err := db.Gorm.Raw(q).Scan(&rows).Error; err != nil {
		t.Fatalf("list foreign keys: %v", err)
	}
	out := make([][2]string, len(rows))
	for i, r := range rows {
		out[i] = [2]string{r.FromTable, r.ToTable}
	}
	return out
}

// voterColumn says whether a column can name a person (a user or a membership).
func voterColumn(c string) bool {
	return c == "user_id" || c == "member_id" || strings.HasSuffix(c, "_user_id") || strings.HasSuffix(c, "_member_id") ||
		strings.Contains(c, "voter") || c == "device_id"
}

func TestSchemaKeepsVotersAndChoicesApart(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		cols := columns(t, e.db)
		if len(cols) == 0 {
			t.Fatal("no tables found")
		}
		optionRef := map[string]bool{}
		for _, fk := range foreignKeys(t, e.db) {
			if fk[1] == "poll_options" {
				optionRef[fk[0]] = true
			}
		}
		for table, cs := range cols {
			if table == "poll_options" {
				continue // its member_id is the candidate, not a voter
			}
			var voter, option []string
			for _, c := range cs {
				if voterColumn(c) {
					voter = append(voter, c)
				}
				if strings.Contains(c, "option") || strings.Contains(c, "choice") {
					option = append(option, c)
					optionRef[table] = true
				}
			}
			if len(voter) > 0 && optionRef[table] {
				t.Errorf("table %s holds a person (%v) and an option reference (%v)", table, voter, option)
			}
		}
		want := map[string]string{
			"poll_participants": "member_id,poll_id,user_id",
			"poll_options":      "display_order,id,member_id,member_nickname,poll_id",
			// A box row is the poll and the sealed bytes: no person, no time, no sequence.
			"ballots": "poll_id,sealed",
			// No time finer than the hour beside a user (expires_at is on the hour).
			"vote_idempotency": "expires_at,key,poll_id,user_id",
		}
		for table, w := range want {
			if got := strings.Join(cols[table], ","); got != w {
				t.Errorf("%s columns = %s, want exactly %s", table, got, w)
			}
		}
		for _, c := range cols["vote_idempotency"] {
			if strings.Contains(c, "option") {
				t.Errorf("vote_idempotency has column %s", c)
			}
		}
	})
}

// dump returns every row of every table as text, prefixed with its table name.
func dump(t *testing.T, db *sqlstore.DB) []string {
	t.Helper()
	var rows []string
	for _, table := range tableNames(columns(t, db)) {
		rs, err := db.SQL().Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		names, err := rs.Columns()
		must(t, err)
		for rs.Next() {
			vals := make([]any, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			must(t, rs.Scan(ptrs...))
			var b strings.Builder
			b.WriteString(table)
			for i, v := range vals {
				switch x := v.(type) {
				case []byte:
					if len(x) == 16 { // a binary UUID
						fmt.Fprintf(&b, " %s=%x-%x-%x-%x-%x", names[i], x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
						continue
					}
					fmt.Fprintf(&b, " %s=%s", names[i], x)
				case [16]byte:
					fmt.Fprintf(&b, " %s=%x-%x-%x-%x-%x", names[i], x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
				default:
					fmt.Fprintf(&b, " %s=%v", names[i], x)
				}
			}
			rows = append(rows, strings.ToLower(b.String()))
		}
		must(t, rs.Err())
		_ = rs.Close()
	}
	return rows
}

func TestNoRowLinksVoterToChoice(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(8, 10)
		p := e.poll(fx, 0)
		type ballot struct{ userID, memberID, optionID string }
		var ballots []ballot
		for i := 1; i < 8; i++ {
			target := fx.Members[i%7+1] // 1→2, 2→3, …, 7→1
			opt := optionOf(t, p, target.ID)
			req := circly.VoteRequest{PollID: p.ID, OptionID: opt}
			if i%2 == 0 {
				req.IdempotencyKey = fmt.Sprintf("retry-%d", i)
			}
			_, err := e.s.Vote(e.ctx, fx.Users[i].ID, req)
			must(t, err)
			if req.IdempotencyKey != "" { // a replay must not store anything new
				_, err = e.s.Vote(e.ctx, fx.Users[i].ID, req)
				must(t, err)
			}
			ballots = append(ballots, ballot{fx.Users[i].ID, fx.Members[i].ID, opt})
		}
		rows := dump(t, e.db)
		if len(rows) < 20 {
			t.Fatalf("dump has only %d rows", len(rows))
		}
		// The dump is a fair test: voters and options do show up in it.
		var sawVoter, sawOption bool
		for _, r := range rows {
			sawVoter = sawVoter || strings.HasPrefix(r, "poll_participants") && strings.Contains(r, ballots[0].memberID)
			sawOption = sawOption || strings.HasPrefix(r, "poll_options") && strings.Contains(r, ballots[0].optionID)
		}
		if !sawVoter || !sawOption {
			t.Fatalf("dump misses participants or options (voter %v, option %v): %v", sawVoter, sawOption, rows)
		}
		check := func() {
			t.Helper()
			for _, r := range dump(t, e.db) {
				for _, b := range ballots {
					if (strings.Contains(r, b.userID) || strings.Contains(r, b.memberID)) && strings.Contains(r, b.optionID) {
						t.Fatalf("row links a voter to their choice: %s", r)
					}
				}
			}
		}
		check()
		_, err := e.s.ClosePoll(e.ctx, p.ID)
		must(t, err)
		check()
	})
}

// TestVoteLeavesOptionRowsUntouched: on PostgreSQL every row carries the id of the transaction
// that wrote it (xmin). A vote must not rewrite an option row or the poll row, or the row whose
// xmin equals a participant row's xmin would name (or narrow down) that participant's choice.
// The poll row changes only when a batch of ballots is opened, by a transaction of its own.
func TestVoteLeavesOptionRowsUntouched(t *testing.T) {
	db := testdb.Open(t, sqlstore.Postgres)
	e := newEnv(t, db)
	fx := e.circle(6, 10)
	p := e.poll(fx, 0)
	xmins := func() []string {
		var out []string
		must(t, db.Gorm.Raw(`SELECT DISTINCT xmin::text FROM poll_options WHERE poll_id = ?`, p.ID).Scan(&out).Error)
		sort.Strings(out)
		return out
	}
	created := xmins()
	if len(created) != 1 {
		t.Fatalf("fresh poll: option rows carry xmins %v", created)
	}
	pollXmin := func() string {
		var x string
		must(t, db.Gorm.Raw(`SELECT xmin::text FROM polls WHERE id = ?`, p.ID).Scan(&x).Error)
		return x
	}
	participantXmins := func() map[string]bool {
		var xs []string
		must(t, db.Gorm.Raw(`SELECT xmin::text FROM poll_participants WHERE poll_id = ?`, p.ID).Scan(&xs).Error)
		out := map[string]bool{}
		for _, x := range xs {
			out[x] = true
		}
		return out
	}
	// Votes below and at the release batch (3), with and without a key, for different options.
	for i, voter := range []int{1, 2, 3, 4} {
		target := fx.Members[5].ID
		if i%2 == 1 {
			target = fx.Members[3].ID
		}
		req := circly.VoteRequest{PollID: p.ID, OptionID: optionOf(t, p, target)}
		if i == 1 {
			req.IdempotencyKey = "k"
		}
		before := pollXmin()
		r, err := e.s.Vote(e.ctx, fx.Users[voter].ID, req)
		must(t, err)
		if got := xmins(); strings.Join(got, ",") != strings.Join(created, ",") {
			t.Fatalf("after vote %d the option rows carry xmins %v, want the creation's %v", i+1, got, created)
		}
		after := pollXmin()
		if changed := after != before; changed != r.Released {
			t.Fatalf("vote %d: poll row rewritten %v, tally released %v", i+1, changed, r.Released)
		}
		if participantXmins()[after] {
			t.Fatalf("vote %d: the poll row was written by a transaction that wrote a participant row", i+1)
		}
	}
	_, err := e.s.ClosePoll(e.ctx, p.ID)
	must(t, err)
	if got := xmins(); strings.Join(got, ",") != strings.Join(created, ",") {
		t.Fatalf("after close the option rows carry xmins %v", got)
	}
	if participantXmins()[pollXmin()] {
		t.Fatal("the close wrote the poll row in a participant's transaction")
	}
}
