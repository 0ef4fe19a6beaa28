package sqlstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"circly/internal/testdb"
	"circly/sqlstore"
)

// The functions PostgreSQL runs are generated from the statements the Go paths run: a migrated
// database has exactly the generated bodies; one with another body is refused until `migrate
// up` installs the generated one, which replicas may run at the same time.
func TestGeneratedFunctionsAreInstalled(t *testing.T) {
	db := testdb.Open(t, sqlstore.Postgres)
	ctx := context.Background()
	for _, f := range sqlstore.GeneratedFunctions() {
		t.Run(f.Name, func(t *testing.T) {
			want, err := f.Body()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(want, "@") || strings.Contains(want, "{{") {
				t.Fatalf("generated body kept a parameter or a placeholder:\n%s", want)
			}
			if have := installedBody(t, db, f.Signature); have != want {
				t.Fatalf("installed body differs from the generated one:\n--- installed\n%s\n--- generated\n%s", have, want)
			}
			if err := db.CheckSchema(ctx); err != nil {
				t.Fatalf("check schema: %v", err)
			}

			// Another binary's body (here: the generated one with a comment added) is refused,
			// then replaced by several replicas migrating together.
			if _, err := db.SQL().Exec(f.DDL(want + "-- another binary\n")); err != nil {
				t.Fatal(err)
			}
			if err := db.CheckSchema(ctx); !sqlstore.IsStaleFunction(err) || !strings.Contains(err.Error(), f.Name) {
				t.Fatalf("check schema with another body: %v, want the stale-function error naming %s", err, f.Name)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := db.MigrateUp(ctx)
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("concurrent migrate up: %v", err)
				}
			}
			if have := installedBody(t, db, f.Signature); have != want {
				t.Fatal("migrate up left another body installed")
			}
			if err := db.CheckSchema(ctx); err != nil {
				t.Fatalf("check schema after migrate up: %v", err)
			}
		})
	}
}

func installedBody(t *testing.T, db *sqlstore.DB, signature string) string {
	t.Helper()
	var body string
	if err := db.SQL().QueryRow(`SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure($1)`, signature).Scan(&body); err != nil {
		t.Fatalf("read %s: %v", signature, err)
	}
	return body
}
