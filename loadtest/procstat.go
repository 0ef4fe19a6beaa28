package loadtest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It is 100 on every
// Linux architecture Go supports (the kernel fixes it for user space), so no cgo sysconf.
const clockTicks = 100

// ProcSample is one reading of a process's resident memory and CPU time.
type ProcSample struct {
	At    time.Time
	RSS   int64         // bytes (VmRSS)
	CPU   time.Duration // utime + stime, all threads
	Valid bool
}

// ReadProc reads /proc/<pid>/status (VmRSS) and /proc/<pid>/stat (utime, stime).
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) != 2 || f[1] != "kB" {
				return s, fmt.Errorf("pid %d: odd VmRSS line %q", pid, line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return s, fmt.Errorf("pid %d: VmRSS: %w", pid, err)
			}
			s.RSS = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return s, fmt.Errorf("pid %d: unreadable stat", pid)
	}
	f := strings.Fields(string(stat[end+1:]))
	// After the name: state is field 3, utime field 14, stime field 15 (1-based, man 5 proc).
	if len(f) < 13 {
		return s, fmt.Errorf("pid %d: short stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("pid %d: bad utime/stime in stat", pid)
	}
	s.CPU = time.Duration(ut+st) * time.Second / clockTicks
	s.Valid = true
	return s, nil
}

// Cores is the CPU used between two samples divided by the wall time between them.
func Cores(before, after ProcSample) float64 {
	wall := after.At.Sub(before.At)
	if !before.Valid || !after.Valid || wall <= 0 {
		return 0
	}
	return float64(after.CPU-before.CPU) / float64(wall)
}

// LoadAvg is the first line of /proc/loadavg (1, 5, 15 min), for the record of each figure.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
