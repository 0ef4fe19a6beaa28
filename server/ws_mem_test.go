package server_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"circly/hub"
	"circly/internal/testdb"
)

// BenchmarkWSIdleConnection measures the server memory of an idle /v1/ws connection: heap in
// use plus goroutine stacks, after a GC, divided by the number of connections. The clients are
// raw sockets speaking just the handshake, so they add next to nothing to the figure.
//
//	go test -run XXX -bench WSIdleConnection -benchtime 1x ./server
func BenchmarkWSIdleConnection(b *testing.B) {
	const n = 2000
	e, l := newLiveEnv(&testing.T{}, testdb.Dialects[0], hub.Limits{})
	_ = l
	var tokens []string
	for i := 0; i < n/10; i++ {
		tokens = append(tokens, e.login().Token)
	}
	u, _ := url.Parse(e.srv.URL)
	measure := func() runtime.MemStats {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m
	}
	for i := 0; i < b.N; i++ {
		before := measure()
		g0 := runtime.NumGoroutine()
		conns := make([]net.Conn, 0, n)
		for j := 0; j < n; j++ {
			c, err := rawWS(u.Host, tokens[j%len(tokens)])
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		time.Sleep(200 * time.Millisecond)
		after := measure()
		heap, stack := float64(after.HeapInuse-before.HeapInuse), float64(after.StackInuse-before.StackInuse)
		b.ReportMetric((heap+stack)/n, "B/conn")
		b.ReportMetric(heap/n, "heap-B/conn")
		b.ReportMetric(stack/n, "stack-B/conn")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/n, "goroutines/conn")
		for _, c := range conns {
			_ = c.Close()
		}
	}
}

// rawWS opens a WebSocket by hand and reads the ready frame.
func rawWS(host, token string) (net.Conn, error) {
	c, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(c, "GET /v1/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nAuthorization: Bearer %s\r\n\r\n",
		host, base64.StdEncoding.EncodeToString(key), token)
	br := bufio.NewReaderSize(c, 512)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("handshake: %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(br, make([]byte, hdr[1]&0x7f)); err != nil { // the ready frame
		c.Close()
		return nil, err
	}
	return c, nil
}

// BenchmarkWSConnect times upgrade + auth + ready over real sockets (the client's raw
// handshake is cheap, so most of the cost is the server's).
//
//	go test -run XXX -bench WSConnect ./server
func BenchmarkWSConnect(b *testing.B) {
	e, _ := newLiveEnv(&testing.T{}, testdb.Dialects[0], hub.Limits{MaxConnsPerUser: 1 << 30})
	token := e.login().Token
	u, _ := url.Parse(e.srv.URL)
	conns := make(chan net.Conn, 1024)
	go func() {
		for c := range conns {
			_ = c.Close()
		}
	}()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := rawWS(u.Host, token)
			if err != nil {
				b.Error(err)
				return
			}
			conns <- c
		}
	})
	b.StopTimer()
	close(conns)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "connects/s")
}
