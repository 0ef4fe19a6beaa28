package models

import (
	"fmt"
	"strconv"
	"strings"
)

// Per-option counts are stored on the poll row: an integer[] on PostgreSQL, a JSON array in
// text on SQLite, indexed by the option's display_order (1-based).

// zeroCounts is the stored form of n zero counts.
func (s *Store) zeroCounts(n int) string {
	z := strings.TrimSuffix(strings.Repeat("0,", n), ",")
	if s.dialect == Postgres {
		return "{" + z + "}"
	}
	return "[" + z + "]"
}

// jsonIncremented is an SQL expression for SQLite's stored counts: the JSON array in column col
// with the element at the 1-based position pos (an SQL expression too) raised by one. On
// PostgreSQL the vote does the same to its integer[] inside circly_vote (migration 00006).
func jsonIncremented(col, pos string) string {
	path := fmt.Sprintf("'$[' || (%s - 1) || ']'", pos)
	return fmt.Sprintf("json_replace(%[1]s, %[2]s, json_extract(%[1]s, %[2]s) + 1)", col, path)
}

// parseCounts reads either stored form: "{1,0,2}" or "[1,0,2]".
func parseCounts(raw string) ([]int, error) {
	inner := strings.Trim(strings.TrimSpace(raw), "{}[]")
	if strings.TrimSpace(inner) == "" {
		return []int{}, nil
	}
	parts := strings.Split(inner, ",")
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("bad stored counts %q: %w", raw, err)
		}
		out[i] = n
	}
	return out, nil
}

// countAt is the count at a 1-based position (0 when out of range).
func countAt(counts []int, pos int) int {
	if pos < 1 || pos > len(counts) {
		return 0
	}
	return counts[pos-1]
}
