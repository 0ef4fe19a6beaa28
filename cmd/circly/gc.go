package main

import "runtime/debug"

// replicaGCPercent is the collector's target for a serving replica when the operator has not
// set GOGC. A replica's heap is mostly long-lived connections, and the runtime lets the heap
// (stacks included) grow to 1 + GOGC/100 times what is live before collecting: at Go's default
// of 100, 10,000 idle connections held about 7.5 KB each live and 13–14 KB each of resident
// memory. At 50 they hold 11.5 KB, and the hot poll's profile shows the collector under 1 % of
// the CPU, so the extra collections cost little (docs/benchmarks.md, "Against the peer").
const replicaGCPercent = 50

// tuneGC sets replicaGCPercent unless GOGC is set (the operator's choice wins, "off" included).
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(replicaGCPercent)
	}
}
