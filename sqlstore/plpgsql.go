package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// On PostgreSQL the vote's two hot steps are functions, one round trip each: circly_vote (the
// cast) and circly_open (opening the batch a vote completed). Their bodies are generated from
// the very statements the Go paths run (cast.go, box.go), so a rule is written once.
// MigrateUp installs them whenever the installed body is not the generated one, and
// CheckSchema refuses to serve with another.

//go:embed plpgsql/*.sql
var plpgsqlTemplates embed.FS

// plpgsqlFunction is a function whose body is a template filled with Go statements.
type plpgsqlFunction struct {
	name       string
	signature  string            // as to_regprocedure reads it; migration 00007 created it
	header     string            // CREATE OR REPLACE FUNCTION … AS $name$ (same signature and OUT parameters)
	statements map[string]string // template placeholder → statement with @named parameters
	vars       map[string]string // named parameter → the function's variable or expression
}

var plpgsqlFunctions = []plpgsqlFunction{
	{
		name:      "circly_vote",
		signature: "circly_vote(uuid,uuid,bytea,varchar,integer,timestamptz,timestamptz)",
		header: `CREATE OR REPLACE FUNCTION circly_vote(
    p_poll uuid, p_user uuid, p_sealed bytea, p_key varchar, p_batch integer,
    p_now timestamptz, p_expires timestamptz,
    OUT o_replay boolean, OUT o_released_total integer, OUT o_released_version integer,
    OUT o_released_counts text, OUT o_waiting integer, OUT o_due text)
LANGUAGE plpgsql AS $circly_vote$`,
		statements: map[string]string{
			"ClaimKey": claimKeySQL, "Check": checkSQL, "VotedBefore": votedBeforeSQL,
			"Participate": participateSQL, "DropBallot": dropBallotSQL, "Waiting": waitingSQL, "Due": dueSQL,
		},
		vars: map[string]string{
			"poll": "p_poll", "user": "p_user", "sealed": "p_sealed", "key": "p_key", "now": "p_now",
			"expires": "p_expires", "member": "v_member", "released_total": "o_released_total",
		},
	},
	{
		name:      "circly_open",
		signature: "circly_open(uuid,text,integer[])",
		header: `CREATE OR REPLACE FUNCTION circly_open(p_poll uuid, p_sealed text, p_add integer[],
    OUT o_opened boolean, OUT o_released_total integer, OUT o_released_version integer,
    OUT o_released_counts text)
LANGUAGE plpgsql AS $circly_open$`,
		statements: map[string]string{"Release": releaseSQL, "Take": takeSQL},
		vars: map[string]string{
			"poll": "p_poll", "sealed": "(SELECT unnest(v_sealed))",
			"counts": "(SELECT array_agg(coalesce(x.c, 0) + coalesce(x.a, 0) ORDER BY x.i) " +
				"FROM unnest(polls.released_counts, p_add) WITH ORDINALITY AS x(c, a, i))",
			"total": "polls.released_total + cardinality(v_sealed)", "version": "polls.released_version + 1",
		},
	},
}

var namedParam = regexp.MustCompile(`@[a-z_]+`)

// body generates the function's body.
func (f plpgsqlFunction) body() (string, error) {
	filled := make(map[string]string, len(f.statements))
	for name, stmt := range f.statements {
		var unknown []string
		filled[name] = namedParam.ReplaceAllStringFunc(stmt, func(p string) string {
			v, ok := f.vars[p[1:]]
			if !ok {
				unknown = append(unknown, p)
			}
			return v
		})
		if len(unknown) > 0 {
			return "", fmt.Errorf("%s: no variable for %s", f.name, strings.Join(unknown, ", "))
		}
	}
	t, err := template.New(f.name).Option("missingkey=error").ParseFS(plpgsqlTemplates, "plpgsql/"+f.name+".sql")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, f.name+".sql", filled); err != nil {
		return "", err
	}
	return b.String(), nil
}

// ddl creates or replaces the function with the given body.
func (f plpgsqlFunction) ddl(body string) string {
	return f.header + body + "$" + f.name + "$"
}

// errStaleFunction says the database's function is not the one this binary generates.
var errStaleFunction = errors.New("is not this binary's: run `circly migrate up`")

// installed reads the function's body; ok is false when the schema has none (before 00007).
func (f plpgsqlFunction) installed(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (body string, ok bool, err error) {
	var src sql.NullString
	err = q.QueryRowContext(ctx, `SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure($1)`, f.signature).Scan(&src)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return src.String, err == nil && src.Valid, err
}

// InstallFunctions replaces each generated function whose installed body differs (PostgreSQL
// only; MigrateUp calls it) and names those it replaced. Replicas starting together take turns
// on an advisory lock: one replaces, the others find it current.
func (d *DB) InstallFunctions(ctx context.Context) (replaced []string, err error) {
	if d.Dialect != Postgres {
		return nil, nil
	}
	tx, err := d.SQL().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('circly generated functions'))`); err != nil {
		return nil, err
	}
	for _, f := range plpgsqlFunctions {
		want, err := f.body()
		if err != nil {
			return nil, err
		}
		have, ok, err := f.installed(ctx, tx)
		if err != nil {
			return nil, err
		}
		if !ok || have == want {
			continue
		}
		if _, err := tx.ExecContext(ctx, f.ddl(want)); err != nil {
			return nil, fmt.Errorf("install %s: %w", f.name, err)
		}
		replaced = append(replaced, f.name)
	}
	return replaced, tx.Commit()
}

// checkFunctions fails when an installed generated function is not this binary's.
func (d *DB) checkFunctions(ctx context.Context) error {
	for _, f := range plpgsqlFunctions {
		want, err := f.body()
		if err != nil {
			return err
		}
		have, ok, err := f.installed(ctx, d.SQL())
		if err != nil {
			return err
		}
		if ok && have != want {
			return fmt.Errorf("the database's %s %w", f.name, errStaleFunction)
		}
	}
	return nil
}
