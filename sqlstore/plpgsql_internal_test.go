package sqlstore

import (
	"strings"
	"testing"
)

// A statement whose parameter the function has no variable for fails the generation (and so
// MigrateUp), rather than install a body that names it.
func TestGenerationRefusesAnUnmappedParameter(t *testing.T) {
	f := plpgsqlFunctions[0]
	f.statements = map[string]string{}
	for k, v := range plpgsqlFunctions[0].statements {
		f.statements[k] = v
	}
	f.statements["Due"] = dueSQL + " AND sealed <> @nothing"
	if _, err := f.body(); err == nil || !strings.Contains(err.Error(), "@nothing") {
		t.Fatalf("body() = %v, want an error naming @nothing", err)
	}
	delete(f.statements, "Due")
	if _, err := f.body(); err == nil {
		t.Fatal("body() without a statement the template names: no error")
	}
}
