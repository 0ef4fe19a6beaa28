package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: a serving replica collects at 50 % unless GOGC is set, which is left alone.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if got := tuneGC(func(string) string { return "" }); got != replicaGCPercent || debug.SetGCPercent(100) != replicaGCPercent {
		t.Fatalf("without GOGC the target is %d, want %d", got, replicaGCPercent)
	}
	debug.SetGCPercent(80) // as GOGC=80 would have set it at start-up
	env := func(k string) string {
		if k == "GOGC" {
			return "80"
		}
		return ""
	}
	if got := tuneGC(env); got != 80 || debug.SetGCPercent(80) != 80 {
		t.Fatalf("with GOGC=80 the target is %d, want 80", got)
	}
}
