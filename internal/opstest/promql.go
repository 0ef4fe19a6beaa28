// Package opstest reads what deploy/ ships for monitoring (alert rules, the Grafana dashboard)
// so tests can check it against the service: which metric names a query reads.
package opstest

import (
	"fmt"
	"sort"
	"strings"
)

// PromQL words that are not metric names when they stand alone.
var promqlWords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true, "inf": true, "nan": true, "start": true, "end": true,
}

// Modifiers followed by a parenthesised list of label names.
var labelListWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// MetricNames returns the metric names a PromQL expression selects, sorted and unique. It is a
// small lexer, not a parser: it drops strings, label matchers {…}, ranges […], label lists after
// by/on/…, function and aggregation names, keywords, numbers and Grafana's $variables; what
// identifiers remain are metric names. Run the expression past promtool for its syntax.
func MetricNames(expr string) ([]string, error) {
	found := map[string]bool{}
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{' || c == '[' || c == '(':
			if c == '(' {
				i++ // a group or a call's arguments: read on inside it
				continue
			}
			end, err := skipBracket(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '$':
			i = identEnd(s, i+1)
		case isIdentStart(c):
			end := identEnd(s, i)
			word := s[i:end]
			next := skipSpace(s, end)
			switch {
			case labelListWords[word]:
				if next < len(s) && s[next] == '(' {
					e, err := skipBracket(s, next)
					if err != nil {
						return nil, err
					}
					end = e
				}
			case promqlWords[strings.ToLower(word)]:
			case next < len(s) && s[next] == '(':
				// a function call
			default:
				found[word] = true
			}
			i = end
		case c >= '0' && c <= '9' || c == '.':
			// a number or a duration (5m, 1e3, 0x1f)
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.') {
				i++
			}
		default:
			i++
		}
	}
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func identEnd(s string, i int) int {
	for i < len(s) && isIdentChar(s[i]) {
		i++
	}
	return i
}

func skipSpace(s string, i int) int {
	for i < len(s) && strings.IndexByte(" \t\r\n", s[i]) >= 0 {
		i++
	}
	return i
}

// skipString returns the index after the string literal starting at i.
func skipString(s string, i int) (int, error) {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at %d in %q", i, s)
}

// skipBracket returns the index after the bracket opened at i and closed by its match,
// stepping over strings inside.
func skipBracket(s string, i int) (int, error) {
	closing := map[byte]byte{'{': '}', '[': ']', '(': ')'}
	stack := []byte{closing[s[i]]}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case closing[c] != 0:
			stack = append(stack, closing[c])
		case c == stack[len(stack)-1]:
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("unclosed %q at %d in %q", s[i], i, s)
}
