package server_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"circly/hub"
	"circly/internal/testdb"
)

// BenchmarkWSConnectSubscribe times what a reconnecting app does, over real sockets: dial,
// upgrade with a Bearer token, read `ready`, subscribe to its own user: channel and read
// `subscribed` (the load generator's connect workload). The clients are raw sockets, so most of
// the CPU is the server's; profile with -cpuprofile to see where a connect goes.
//
//	go test -run '^$' -bench WSConnectSubscribe -cpuprofile /tmp/cpu.out ./server
func BenchmarkWSConnectSubscribe(b *testing.B) {
	e, _ := newLiveEnv(&testing.T{}, testdb.Dialects[0], hub.Limits{MaxConnsPerUser: 1 << 30})
	var users []user
	for i := 0; i < 50; i++ {
		users = append(users, e.login())
	}
	u, _ := url.Parse(e.srv.URL)
	conns := make(chan net.Conn, 1024)
	go func() {
		for c := range conns {
			_ = c.Close()
		}
	}()
	var next atomic.Int64
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			who := users[int(next.Add(1))%len(users)]
			c, err := rawConnectSubscribe(u.Host, who)
			if err != nil {
				b.Error(err)
				return
			}
			conns <- c
		}
	})
	b.StopTimer()
	// CPU time rather than wall time: on a shared machine the wall clock mostly measures the
	// neighbors. It includes the raw clients, which do little.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	close(conns)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "connects/s")
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawConnectSubscribe opens /v1/ws by hand, reads ready, subscribes user:<id> and reads the
// answer, which must be `subscribed`.
func rawConnectSubscribe(host string, u user) (net.Conn, error) {
	c, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Conn, error) { _ = c.Close(); return nil, err }
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(c, "GET /v1/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nAuthorization: Bearer %s\r\n\r\n",
		host, base64.StdEncoding.EncodeToString(key), u.Token)
	br := bufio.NewReaderSize(c, 1024)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		return fail(fmt.Errorf("handshake: %q %v", status, err))
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fail(err)
		}
		if line == "\r\n" {
			break
		}
	}
	if _, err := readRawFrame(br); err != nil { // ready
		return fail(err)
	}
	if _, err := c.Write(maskedText([]byte(`{"type":"subscribe","id":1,"channel":"user:` + u.ID + `"}`))); err != nil {
		return fail(err)
	}
	p, err := readRawFrame(br)
	if err != nil {
		return fail(err)
	}
	if !strings.Contains(string(p), `"subscribed"`) {
		return fail(fmt.Errorf("answer to subscribe: %s", p))
	}
	return c, nil
}

// readRawFrame reads one unfragmented server frame (servers do not mask).
func readRawFrame(br *bufio.Reader) ([]byte, error) {
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, err
	}
	n := int(hdr[1] & 0x7f)
	switch n {
	case 126:
		ext := make([]byte, 2)
		if _, err := io.ReadFull(br, ext); err != nil {
			return nil, err
		}
		n = int(ext[0])<<8 | int(ext[1])
	case 127:
		return nil, fmt.Errorf("frame too large for this client")
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return p, err
}

// maskedText frames p as a masked client text message (p < 126 bytes).
func maskedText(p []byte) []byte {
	mask := [4]byte{1, 2, 3, 4}
	f := append([]byte{0x81, 0x80 | byte(len(p))}, mask[:]...)
	for i, b := range p {
		f = append(f, b^mask[i%4])
	}
	return f
}
