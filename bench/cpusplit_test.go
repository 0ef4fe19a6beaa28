package bench_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuSample is CPU time (in clock ticks) per process and for the whole machine, read from /proc
// (Linux only; elsewhere readCPU reports false and no split is logged).
type cpuSample struct {
	at      time.Time
	procs   map[int]procTicks
	machine int64 // /proc/stat: non-idle time of all CPUs
	idle    int64
}

type procTicks struct {
	comm  string
	ticks int64 // utime + stime, all threads
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

func readCPU() (cpuSample, bool) {
	s := cpuSample{at: time.Now(), procs: map[int]procTicks{}}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, false
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	for i, v := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case i == 3 || i == 4: // idle, iowait
			s.idle += n
		case i < 8: // user nice system irq softirq steal
			s.machine += n
		}
	}
	files, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		str := string(b)
		open, closing := strings.IndexByte(str, '('), strings.LastIndexByte(str, ')')
		if open < 0 || closing < open {
			continue
		}
		rest := strings.Fields(str[closing+1:])
		if len(rest) < 13 {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(str[:open]))
		ut, _ := strconv.ParseInt(rest[11], 10, 64)
		st, _ := strconv.ParseInt(rest[12], 10, 64)
		s.procs[pid] = procTicks{comm: str[open+1 : closing], ticks: ut + st}
	}
	return s, true
}

// cpuSplit says where CPU went between two samples, in cores used on average: this test binary
// (server and voters), the PostgreSQL backends serving this benchmark's pool (ourPG), other
// PostgreSQL processes (other tests' backends, WAL writer, checkpointer...), everything else.
// Processes that ended in between are missed, so "unaccounted" is mostly short-lived work of
// others (compilers, test binaries) plus kernel time (loopback networking in softirq).
func cpuSplit(a, b cpuSample, ourPG map[int]bool) string {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return ""
	}
	self := os.Getpid()
	var mine, pg, otherPG, other int64
	for pid, p := range b.procs {
		d := p.ticks - a.procs[pid].ticks // a process that started in between counts whole
		switch {
		case pid == self:
			mine += d
		case ourPG[pid]:
			pg += d
		case p.comm == "postgres":
			otherPG += d
		default:
			other += d
		}
	}
	cores := func(ticks int64) float64 { return float64(ticks) / clockTicks / secs }
	busy := b.machine - a.machine
	return fmt.Sprintf("cores busy %.2f of %.2f: test binary %.2f, its postgres backends %.2f, other postgres %.2f, other processes %.2f, unaccounted %.2f",
		cores(busy), cores(busy+b.idle-a.idle), cores(mine), cores(pg), cores(otherPG), cores(other), cores(busy-mine-pg-otherPG-other))
}
