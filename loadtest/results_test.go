package loadtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestResultsScenarioAgainstRealServer runs the results scenario end to end at a small scale:
// every ballot counts, every read answers 200, and the figures are printed.
func TestResultsScenarioAgainstRealServer(t *testing.T) {
	r := newServer(t)
	var out bytes.Buffer
	err := Run(context.Background(), Config{Scenario: "results", VoteURL: r.Base, WatchURLs: []string{r.Base},
		Circles: 3, Members: 4, Rate: 200, Duration: 500 * time.Millisecond, Voters: 4, SetupConcurrency: 2,
		Sources: 1, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"ballots:                       12 cast, 0 failed", "reads:", "100 ok, 0 failed", "read HTTP round trip:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
