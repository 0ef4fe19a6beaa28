// Package testproc holds what tests that run other programs (servers, the service itself) share:
// a buffer for their output and a free port to give them.
package testproc

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// maxOutput caps what an Output keeps: a runaway log must not eat the test's memory.
const maxOutput = 4 << 20

// Output collects a process's stdout or stderr; exec writes it from its own goroutines.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buf.Len() > maxOutput {
		return len(p), nil
	}
	return o.buf.Write(p)
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// FreePort asks the kernel for a TCP port nobody listens on. It probes every address, IPv6
// included, as servers bind them: a port free on 127.0.0.1 may be the local port of an IPv6
// loopback connection. The port may still be taken before the caller binds it: retry then.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	addr, _ := l.Addr().(*net.TCPAddr) // a TCP listener's address is always one
	return addr.Port
}
