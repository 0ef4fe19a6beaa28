package sqlstore_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"circly"
	"circly/internal/testdb"
	"circly/sqlstore"

	"gorm.io/gorm"
)

// statement is one SQL statement the store sent, with its arguments.
type statement struct {
	sql  string
	vars []any
}

// recordStatements captures every statement the store sends while fn runs.
func recordStatements(t *testing.T, db *gorm.DB, fn func()) []statement {
	t.Helper()
	var mu sync.Mutex
	var out []statement
	on := true
	rec := func(tx *gorm.DB) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			out = append(out, statement{tx.Statement.SQL.String(), append([]any(nil), tx.Statement.Vars...)})
		}
	}
	must(t, db.Callback().Query().After("gorm:query").Register("test:record_query", rec))
	must(t, db.Callback().Row().After("gorm:row").Register("test:record_row", rec))
	fn()
	mu.Lock()
	on = false
	mu.Unlock()
	return out
}

// TestStatsAndReportsUseIndexes explains, on PostgreSQL with whole-table reads priced out, every
// statement the stats and report reads send: none may scan a whole table, so they stay fast
// as polls, ballots and reports pile up.
func TestStatsAndReportsUseIndexes(t *testing.T) {
	db := testdb.Open(t, sqlstore.Postgres)
	e := newEnv(t, db, noPollLimits())
	fx := e.circle(4, 10)
	for range 3 {
		e.voteAll(fx, e.poll(fx, 0), 1, 2)
	}
	_, _, err := e.s.FileReport(e.ctx, fx.Users[1].ID, circly.NewReport{Type: "circle", TargetID: fx.ID, Reason: "spam"})
	must(t, err)
	// Thousands of other users, circles, polls, ballots and reports, so the planner sees tables
	// where a scan would cost something.
	for _, q := range bulkRows {
		must(t, db.Gorm.Exec(q).Error)
	}
	must(t, db.Gorm.Exec(`ANALYZE`).Error)

	stmts := recordStatements(t, db.Gorm, func() {
		_, err := e.s.UserStats(e.ctx, fx.Users[1].ID)
		must(t, err)
		_, err = e.s.CircleStats(e.ctx, fx.Users[1].ID, fx.ID)
		must(t, err)
		_, _, err = e.s.ListReports(e.ctx, fx.Users[1].ID, circly.Page{Limit: 20})
		must(t, err)
	})
	if len(stmts) < 6 {
		t.Fatalf("recorded %d statements", len(stmts))
	}
	// The first column of every index: an index scan must constrain it, else it reads the
	// whole index.
	var cols []struct{ Index, Col string }
	must(t, db.Gorm.Raw(`SELECT c.relname AS index, a.attname AS col FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE c.relnamespace = current_schema()::regnamespace`).Scan(&cols).Error)
	leading := map[string]string{}
	for _, c := range cols {
		leading[c.Index] = c.Col
	}
	for _, st := range stmts {
		var plan string
		err := db.Gorm.Transaction(func(tx *gorm.DB) error {
			// Price sequential scans out: a plan that still has one found no index to use.
			if err := tx.Exec(`SET LOCAL enable_seqscan = off`).Error; err != nil {
				return err
			}
			return tx.Raw("EXPLAIN (FORMAT JSON) "+st.sql, st.vars...).Row().Scan(&plan)
		})
		must(t, err)
		var root []struct{ Plan planNode }
		must(t, json.Unmarshal([]byte(plan), &root))
		if bad := root[0].Plan.wholeScans(leading); len(bad) > 0 {
			t.Fatalf("whole-table scans %v in\n%s\nplan: %s", bad, st.sql, plan)
		}
	}
}

// bulkRows fills the tables with rows that belong to nobody in the test: n users, each alone
// in a circle with a closed poll they created and voted in, and a report.
var bulkRows = []string{
	`CREATE TEMP TABLE bulk AS SELECT g AS n, gen_random_uuid() AS u, gen_random_uuid() AS c, gen_random_uuid() AS m,
		gen_random_uuid() AS p FROM generate_series(1, 4000) g`,
	`INSERT INTO users (id, device_id, platform, created_at, last_active_at) SELECT u, 'bulk-' || n, 'ios', now(), now() FROM bulk`,
	`INSERT INTO circles (id, name, creator_user_id, max_members, member_count, join_seq, created_at)
		SELECT c, 'bulk', u, 10, 1, 1, now() - (n || ' minutes')::interval FROM bulk`,
	`INSERT INTO circle_members (id, circle_id, user_id, nickname, role, join_seq, joined_at) SELECT m, c, u, 'b', 'creator', 1, now() FROM bulk`,
	`INSERT INTO polls (id, circle_id, creator_member_id, template_id, question_text, deadline, created_at, closed_at, released_counts)
		SELECT p, c, m, '` + templateKind + `', 'q', now(), now() - (n || ' minutes')::interval, now(), '{0}' FROM bulk`,
	`INSERT INTO poll_creations (poll_id, user_id, created_at) SELECT p, u, now() - (n || ' minutes')::interval FROM bulk`,
	`INSERT INTO poll_participants (poll_id, member_id, user_id) SELECT p, m, u FROM bulk`,
	`INSERT INTO reports (id, reporter_user_id, target_type, target_id, reason, created_at) SELECT gen_random_uuid(), u, 'circle', c, 'spam', now() FROM bulk`,
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	Index     string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}

// wholeScans lists the scans that read a whole table or a whole index: a sequential scan, or
// an index scan whose condition leaves the index's first column free.
func (n planNode) wholeScans(leading map[string]string) []string {
	var out []string
	switch n.NodeType {
	case "Seq Scan":
		out = append(out, n.NodeType+" on "+n.Relation)
	case "Index Scan", "Index Only Scan", "Bitmap Index Scan":
		col := leading[n.Index]
		if col == "" || !strings.Contains(n.IndexCond, "("+col+" ") {
			out = append(out, n.NodeType+" of "+n.Index+" on "+n.IndexCond)
		}
	}
	for _, c := range n.Plans {
		out = append(out, c.wholeScans(leading)...)
	}
	return out
}
