package sqlstore

import "strings"

// isConstraintError tells a unique or foreign-key violation apart from a real failure, on both
// databases (PostgreSQL SQLSTATE 23xxx, SQLite "constraint failed").
func isConstraintError(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "SQLSTATE 23") || strings.Contains(s, "constraint failed")
}
