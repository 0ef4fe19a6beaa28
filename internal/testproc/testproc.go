// Package testproc holds what tests that run other programs (servers, the service itself) share:
// a buffer for their output, a free port to give them, and starting one until it answers.
package testproc

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
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

// OnFreePort calls start with a free port until it succeeds, at most three times: a port found
// free may be taken before the program binds it. It returns start's last error.
func OnFreePort(t testing.TB, start func(port int) error) error {
	t.Helper()
	var err error
	for range 3 {
		if err = start(FreePort(t)); err == nil {
			return nil
		}
	}
	return err
}

// Process is a started program whose exit is watched: Exited is closed once it has been waited for.
type Process struct {
	P      *os.Process
	Exited chan struct{}
}

// Start starts cmd and calls ready (each call bounded by a second, `every` apart) until it
// succeeds, the program exits or timeout passes; then the program is killed and the error says
// which. name goes into the errors.
func Start(cmd *exec.Cmd, name string, timeout, every time.Duration, ready func(context.Context) error) (*Process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{P: cmd.Process, Exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.Exited) }()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.Exited:
			return nil, fmt.Errorf("%s exited during start-up: %v", name, err)
		default:
		}
		if time.Now().After(deadline) {
			_ = p.P.Kill()
			<-p.Exited
			return nil, fmt.Errorf("%s not answering after %s: %v", name, timeout, err)
		}
		time.Sleep(every)
	}
}
