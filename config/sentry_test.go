package config_test

import (
	"strings"
	"testing"
)

// TestSentryTracesSampleRate: 0.1 by default, any share from 0 to 1, and a bad value stops
// start-up naming the setting.
func TestSentryTracesSampleRate(t *testing.T) {
	if c := mustLoad(t, nil); c.SentryTracesSampleRate != 0.1 {
		t.Errorf("default %v, want 0.1", c.SentryTracesSampleRate)
	}
	for v, want := range map[string]float64{"0": 0, "1": 1, " 0.25 ": 0.25, "1e-3": 0.001} {
		if c := mustLoad(t, map[string]string{"SENTRY_TRACES_SAMPLE_RATE": v}); c.SentryTracesSampleRate != want {
			t.Errorf("SENTRY_TRACES_SAMPLE_RATE=%q read as %v, want %v", v, c.SentryTracesSampleRate, want)
		}
	}
	for _, v := range []string{"-0.1", "1.5", "ten", "NaN", "10%"} {
		_, err := load(map[string]string{"SENTRY_TRACES_SAMPLE_RATE": v})
		if err == nil || !strings.Contains(err.Error(), "SENTRY_TRACES_SAMPLE_RATE") {
			t.Errorf("SENTRY_TRACES_SAMPLE_RATE=%q: %v, want an error naming the setting", v, err)
		}
	}
}
