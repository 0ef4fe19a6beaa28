package sqlstore

import "errors"

// GeneratedFunction is a generated PL/pgSQL function as the external tests see it.
type GeneratedFunction struct {
	Name, Signature string
	Body            func() (string, error)
	DDL             func(body string) string
}

// GeneratedFunctions lists the functions MigrateUp installs on PostgreSQL.
func GeneratedFunctions() []GeneratedFunction {
	var out []GeneratedFunction
	for _, f := range plpgsqlFunctions {
		out = append(out, GeneratedFunction{Name: f.name, Signature: f.signature, Body: f.body, DDL: f.ddl})
	}
	return out
}

// IsStaleFunction tells CheckSchema's refusal of a function another binary installed.
func IsStaleFunction(err error) bool { return errors.Is(err, errStaleFunction) }
