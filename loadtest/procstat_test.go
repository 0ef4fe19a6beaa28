package loadtest

import (
	"os"
	"testing"
	"time"
)

func TestReadProcOwnProcess(t *testing.T) {
	before, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.RSS < 1<<20 {
		t.Fatalf("RSS %d bytes is implausibly small", before.RSS)
	}
	// Burn some CPU, then the CPU time must have moved by roughly that much.
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.CPU-before.CPU < 100*time.Millisecond {
		t.Fatalf("CPU moved %v over a 300 ms busy loop (%d)", after.CPU-before.CPU, x)
	}
	if c := Cores(before, after); c <= 0.2 || c > 4 {
		t.Fatalf("cores %.2f", c)
	}
}

func TestReadProcMissing(t *testing.T) {
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("no error for a pid that cannot exist")
	}
}
