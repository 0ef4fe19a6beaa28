package sqlstore_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"circly"
	"circly/internal/testdb"
	"circly/sqlstore"
)

// appTables are the tables the migrations create.
var appTables = []string{"audit_log", "backup_runs", "ballots", "circle_members", "circles", "notification_settings", "notifications", "operator_tokens", "poll_creations", "poll_options", "poll_participants", "poll_reminders", "polls", "push_day_counts", "push_outbox", "push_tokens", "question_templates", "refresh_tokens", "reports", "sanctions", "template_uses", "uploads", "users", "vote_idempotency"}

// columns lists every column of every table in the database, as table → sorted column names.
// goose's own bookkeeping table and SQLite internals are left out.
func columns(t *testing.T, db *sqlstore.DB) map[string][]string {
	t.Helper()
	var q string
	switch db.Dialect {
	case sqlstore.SQLite:
		q = `SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'goose_db_version'`
	default:
		q = `SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'`
	}
	var rows []struct{ TableName, ColumnName string }
	if err := db.Gorm.Raw(q).Scan(&rows).Error; err != nil {
		t.Fatalf("list columns: %v", err)
	}
	out := map[string][]string{}
	for _, r := range rows {
		out[r.TableName] = append(out[r.TableName], r.ColumnName)
	}
	for _, cols := range out {
		sort.Strings(cols)
	}
	return out
}

func tableNames(cols map[string][]string) []string {
	var names []string
	for n := range cols {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestMigrationsDownToZeroAndUpAgain(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		p, err := db.Migrator()
		must(t, err)
		sources := p.ListSources()
		if len(sources) < 2 {
			t.Fatalf("want at least 2 migrations, got %d", len(sources))
		}
		v, err := p.GetDBVersion(ctx)
		must(t, err)
		if want := sources[len(sources)-1].Version; v != want {
			t.Fatalf("fresh database at version %d, want %d", v, want)
		}
		if pending, err := p.HasPending(ctx); err != nil || pending {
			t.Fatalf("pending after migrate: %v %v", pending, err)
		}

		// Down one step at a time.
		for i := len(sources) - 1; i >= 0; i-- {
			res, err := p.Down(ctx)
			if err != nil {
				t.Fatalf("down from version %d: %v", sources[i].Version, err)
			}
			if res.Source.Version != sources[i].Version {
				t.Fatalf("down rolled back %d, want %d", res.Source.Version, sources[i].Version)
			}
		}
		v, err = p.GetDBVersion(ctx)
		must(t, err)
		if v != 0 {
			t.Fatalf("after all downs version = %d, want 0", v)
		}
		if got := columns(t, db); len(got) != 0 {
			t.Fatalf("tables left after migrating down to zero: %v", tableNames(got))
		}

		// Up again, down with DownTo(0), up once more: every migration is repeatable.
		res, err := p.Up(ctx)
		must(t, err)
		if len(res) != len(sources) {
			t.Fatalf("up ran %d migrations, want %d", len(res), len(sources))
		}
		_, err = p.DownTo(ctx, 0)
		must(t, err)
		if got := columns(t, db); len(got) != 0 {
			t.Fatalf("tables left after DownTo(0): %v", tableNames(got))
		}
		n, err := db.MigrateUp(ctx)
		must(t, err)
		if n != len(sources) {
			t.Fatalf("MigrateUp ran %d, want %d", n, len(sources))
		}
		must(t, db.CheckSchema(ctx))
		if got := tableNames(columns(t, db)); strings.Join(got, ",") != strings.Join(appTables, ",") {
			t.Fatalf("tables after up = %v, want %v", got, appTables)
		}

		// The schema works after the round trip.
		e := newEnv(t, db)
		fx := e.circle(3, 10)
		pl := e.poll(fx, 0)
		e.vote(fx.Users[1].ID, pl.ID, optionOf(t, pl, fx.Members[2].ID))
		tpls, total, err := e.s.ListTemplates(ctx, "", circly.Page{Limit: 100})
		must(t, err)
		if total < 12 || len(tpls) != int(total) {
			t.Fatalf("templates after re-seed: total %d, listed %d", total, len(tpls))
		}
	})
}

func TestMigrationsPendingIsDetected(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		p, err := db.Migrator()
		must(t, err)
		_, err = p.Down(ctx)
		must(t, err)
		if err := db.CheckSchema(ctx); err == nil {
			t.Fatal("CheckSchema passed with a migration pending")
		}
		n, err := db.MigrateUp(ctx)
		must(t, err)
		if n != 1 {
			t.Fatalf("MigrateUp ran %d, want 1", n)
		}
		must(t, db.CheckSchema(ctx))
		if n, err := db.MigrateUp(ctx); err != nil || n != 0 {
			t.Fatalf("second MigrateUp ran %d (%v), want 0", n, err)
		}
	})
}

func TestSchemaParity(t *testing.T) {
	lite := columns(t, testdb.Open(t, sqlstore.SQLite))
	pg := columns(t, testdb.Open(t, sqlstore.Postgres))
	if a, b := strings.Join(tableNames(lite), ","), strings.Join(tableNames(pg), ","); a != b {
		t.Fatalf("tables differ:\n sqlite:   %s\n postgres: %s", a, b)
	}
	if strings.Join(tableNames(lite), ",") != strings.Join(appTables, ",") {
		t.Fatalf("tables = %v, want %v", tableNames(lite), appTables)
	}
	for _, table := range tableNames(lite) {
		if a, b := strings.Join(lite[table], ","), strings.Join(pg[table], ","); a != b {
			t.Errorf("columns of %s differ:\n sqlite:   %s\n postgres: %s", table, a, b)
		}
	}
}

func TestTemplatesSeeded(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		all, total, err := e.s.ListTemplates(e.ctx, "", circly.Page{Limit: 100})
		must(t, err)
		if total < 12 || len(all) != int(total) {
			t.Fatalf("seeded templates: total %d, listed %d; want at least 12", total, len(all))
		}
		perCategory := map[string]int{}
		for _, tpl := range all {
			perCategory[tpl.Category]++
			if strings.TrimSpace(tpl.QuestionText) == "" {
				t.Errorf("template %s has no text", tpl.ID)
			}
		}
		for _, c := range circly.TemplateCategories {
			if perCategory[c] == 0 {
				t.Errorf("no seeded template in category %q", c)
			}
			list, n, err := e.s.ListTemplates(e.ctx, c, circly.Page{Limit: 100})
			must(t, err)
			if int(n) != perCategory[c] || len(list) != perCategory[c] {
				t.Errorf("category %s: filtered total %d, listed %d, want %d", c, n, len(list), perCategory[c])
			}
		}
		if len(perCategory) != len(circly.TemplateCategories) {
			t.Errorf("categories = %v, want exactly %v", perCategory, circly.TemplateCategories)
		}

		// Pagination and usage order: a used template comes first.
		page, _, err := e.s.ListTemplates(e.ctx, "", circly.Page{Limit: 5, Offset: 10})
		must(t, err)
		if want := min(5, int(total)-10); len(page) != want {
			t.Fatalf("page of 5 at offset 10: %d templates, want %d", len(page), want)
		}
		fx := e.circle(3, 10)
		e.poll(fx, 0) // uses templateKind
		first, _, err := e.s.ListTemplates(e.ctx, "", circly.Page{Limit: 1})
		must(t, err)
		if first[0].ID != templateKind || first[0].UsageCount != 1 {
			t.Fatalf("most used template = %+v, want %s with usage 1", first[0], templateKind)
		}
		got, err := e.s.GetTemplate(e.ctx, templateSmile)
		must(t, err)
		if got.Category != "appearance" {
			t.Fatalf("template %s category %q", templateSmile, got.Category)
		}
		_, err = e.s.GetTemplate(e.ctx, "00000000-0000-4000-8000-0000000000ff")
		wantCode(t, err, circly.CodeTemplateNotFound)
	})
}
