package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// burstServer upgrades one connection with the server's buffers and hands its transport and
// write counter to the test.
func burstServer(t *testing.T) (client *websocket.Conn, tr *wsTransport, counter *countingConn) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	got := make(chan *wsTransport, 1)
	cc := make(chan *countingConn, 1)
	r := gin.New()
	r.GET("/ws", func(c *gin.Context) {
		rw := &smallBuffers{ResponseWriter: c.Writer}
		tr := &wsTransport{}
		conn, err := websocket.Accept(rw, c.Request, &websocket.AcceptOptions{OnPongReceived: tr.pong})
		if err != nil {
			t.Error(err)
			return
		}
		counting := &countingConn{Conn: rw.burst.conn}
		rw.burst.conn = counting
		cc <- counting
		tr.c, tr.burst = conn, rw.burst
		got <- tr
		<-c.Request.Context().Done()
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	client.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = client.CloseNow() })
	return client, <-got, <-cc
}

// TestBurstWriterOneWritePerFrame: a frame of any size, far above the connection's small write
// buffer (a 50-member poll's tally is about 3 KiB), leaves in one write and arrives whole.
func TestBurstWriterOneWritePerFrame(t *testing.T) {
	client, tr, counter := burstServer(t)
	ctx := context.Background()
	for _, size := range []int{0, 10, 125, 126, wsWriteBuffer + 1, 3100, 65535, 65536, 70000} {
		msg := bytes.Repeat([]byte{'a' + byte(size%26)}, size)
		before := counter.writes.Load()
		if err := tr.Write(ctx, msg); err != nil {
			t.Fatal(err)
		}
		if n := counter.writes.Load() - before; n != 1 {
			t.Errorf("a %d-byte frame took %d writes, want 1", size, n)
		}
		_, got, err := client.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("a %d-byte frame arrived as %d bytes", size, len(got))
		}
	}
}

// TestBurstWriterConcurrent: frames, pings and the client's pongs written from several
// goroutines at once stay intact and in order per writer (-race).
func TestBurstWriterConcurrent(t *testing.T) {
	client, tr, _ := burstServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The server side must read for pongs to be handled.
	go func() {
		for {
			if _, err := tr.Read(ctx); err != nil {
				return
			}
		}
	}()
	const writers, each = 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				msg := fmt.Sprintf("%d:%d:%s", w, i, strings.Repeat("x", (i*37)%4000))
				if err := tr.Write(ctx, []byte(msg)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	const pings = 20
	pingsDone := make(chan struct{})
	go func() {
		defer close(pingsDone)
		for range pings {
			if err := tr.Ping(); err != nil {
				t.Error("ping:", err)
			}
		}
	}()
	next := make([]int, writers)
	for range writers * each {
		_, b, err := client.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var w, i int
		var rest string
		if _, err := fmt.Sscanf(string(b), "%d:%d:%s", &w, &i, &rest); err != nil && !strings.HasSuffix(string(b), ":") {
			t.Fatalf("garbled frame %.40q: %v", b, err)
		}
		if i != next[w] || len(rest) != (i*37)%4000 {
			t.Fatalf("writer %d: frame %d (%d bytes of x) arrived, want frame %d", w, i, len(rest), next[w])
		}
		next[w]++
	}
	// Pings need the client to read its pongs' pings: keep reading until they are done.
	go func() {
		for {
			if _, _, err := client.Read(ctx); err != nil {
				return
			}
		}
	}()
	<-pingsDone
	wg.Wait()
	// Every ping went out whole between the frames: the client answered each one.
	for tr.Pongs() < pings {
		if ctx.Err() != nil {
			t.Fatalf("%d pongs of %d pings", tr.Pongs(), pings)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSharedFrameFramedOnce: the slice the hub fans out to every watcher is framed once and
// the same bytes go to each connection, small (a compact tally) or large; another message of
// the same size is framed anew, and messages written interleaved keep their frames.
func TestSharedFrameFramedOnce(t *testing.T) {
	for _, size := range []int{40, 236, 3000, 70000} {
		a := bytes.Repeat([]byte{'a'}, size)
		b := bytes.Repeat([]byte{'b'}, size)
		for frameSlot(b) == frameSlot(a) { // interleaved messages in one slot evict each other
			b = bytes.Repeat([]byte{'b'}, size)
		}
		fa := sharedFrame(a)
		fb := sharedFrame(b)
		if again := sharedFrame(a); &again[0] != &fa[0] {
			t.Fatalf("%d bytes: the same message was framed twice", size)
		}
		if &fb[0] == &fa[0] || !bytes.HasSuffix(fb, b) || !bytes.HasSuffix(fa, a) {
			t.Fatalf("%d bytes: another message got the first one's frame", size)
		}
		if !bytes.Equal(fa, textFrame(a)) {
			t.Fatalf("%d bytes: the shared frame differs from the frame of the payload", size)
		}
	}
	// And on the wire, through two connections, shared and own.
	a := bytes.Repeat([]byte{'a'}, 236)
	for _, msg := range [][]byte{a, a, bytes.Repeat([]byte{'b'}, 3000)} {
		for i := 0; i < 2; i++ {
			client, tr, _ := burstServer(t)
			if err := tr.WriteShared(msg); err != nil {
				t.Fatal(err)
			}
			if err := tr.Write(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				_, got, err := client.Read(context.Background())
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("read %d bytes, %v", len(got), err)
				}
			}
		}
	}
}

// TestSharedFrameNoAllocation: writing a fan-out message to another watcher frames nothing
// anew.
func TestSharedFrameNoAllocation(t *testing.T) {
	msg := bytes.Repeat([]byte{'c'}, 236)
	sharedFrame(msg)
	if n := testing.AllocsPerRun(100, func() { sharedFrame(msg) }); n != 0 {
		t.Fatalf("%.1f allocations per watcher", n)
	}
}
