package config_test

import (
	"strings"
	"testing"
)

func TestResultsCache(t *testing.T) {
	if c := mustLoad(t, nil); c.ResultsCache {
		t.Error("RESULTS_CACHE is on by default")
	}
	c := mustLoad(t, map[string]string{"RESULTS_CACHE": "true", "REDIS_URL": "redis://127.0.0.1:6379/0"})
	if !c.ResultsCache {
		t.Error("RESULTS_CACHE=true read as off")
	}
	for _, env := range []map[string]string{{"RESULTS_CACHE": "true"}, {"RESULTS_CACHE": "maybe", "REDIS_URL": "redis://x:6379"}} {
		if _, err := load(env); err == nil || !strings.Contains(err.Error(), "RESULTS_CACHE") {
			t.Errorf("%v: err %v, want one naming RESULTS_CACHE", env, err)
		}
	}
}
