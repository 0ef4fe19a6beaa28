package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: a serving replica collects at 50 % unless GOGC is set, which is left alone.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != replicaGCPercent {
		t.Fatalf("without GOGC the target is %d, want %d", got, replicaGCPercent)
	}
	debug.SetGCPercent(80) // as GOGC=80 would have set it at start-up
	tuneGC(func(k string) string {
		if k == "GOGC" {
			return "80"
		}
		return ""
	})
	if got := debug.SetGCPercent(80); got != 80 {
		t.Fatalf("with GOGC=80 the target is %d, want 80", got)
	}
}
