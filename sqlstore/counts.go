package sqlstore

import (
	"fmt"
	"strconv"
	"strings"
)

// The released counts are stored on the poll row: an integer[] on PostgreSQL, a JSON array in
// text on SQLite, indexed by the option's display_order (1-based).

// countsText is counts in the stored form of a dialect: "{1,0,2}" or "[1,0,2]".
func countsText(d Dialect, counts []int) string {
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = strconv.Itoa(c)
	}
	if d == Postgres {
		return "{" + strings.Join(parts, ",") + "}"
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// zeroCounts is the stored form of n zero counts.
func (s *Store) zeroCounts(n int) string { return countsText(s.dialect, make([]int, n)) }

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
