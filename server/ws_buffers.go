package server

import (
	"bufio"
	"net"
	"sync"

	"github.com/gin-gonic/gin"
)

// Buffer sizes of a hijacked WebSocket connection. net/http hands over a 4 KiB reader and a
// 4 KiB writer per connection; an idle connection mostly waits, so it keeps far less:
//   - reads: client frames are small (a subscribe is about 80 bytes, the limit 4 KiB), and a
//     larger frame is read straight into its destination;
//   - writes: the hub's frames go to the socket whole, encoded once (burstWriter.writeFrame),
//     so the connection's own buffer only carries control frames (ping, pong, close: at most
//     125 bytes of payload and 14 of header).
const (
	wsReadBuffer  = 256
	wsWriteBuffer = 160
)

// smallBuffers is the response writer given to websocket.Accept: its Hijack swaps net/http's
// buffers for smaller ones and puts a burstWriter under the writes. Everything else
// (WriteHeaderNow included) is gin's.
type smallBuffers struct {
	gin.ResponseWriter
	burst *burstWriter // set by Hijack
}

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := w.ResponseWriter.Hijack()
	if err != nil {
		return conn, brw, err
	}
	n := brw.Reader.Buffered()
	if n > wsReadBuffer {
		return conn, brw, nil // bytes the client sent ahead do not fit: keep net/http's buffers
	}
	br := bufio.NewReaderSize(conn, wsReadBuffer)
	if n > 0 {
		// Carry over what the client sent ahead of the 101 (pipelined frames): Accept keeps
		// the reader's buffered bytes, so they must sit in the new buffer.
		pending, _ := brw.Peek(n)
		br = bufio.NewReaderSize(&prefixReader{pending: append([]byte(nil), pending...), conn: conn}, wsReadBuffer)
		if _, err := br.Peek(n); err != nil {
			return conn, brw, nil
		}
	}
	w.burst = &burstWriter{conn: conn}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.burst, wsWriteBuffer)), nil
}

// prefixReader yields pending and then reads conn.
type prefixReader struct {
	pending []byte
	conn    net.Conn
}

func (r *prefixReader) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.conn.Read(p)
}

// burstWriter sits under the WebSocket's bufio.Writer and writes straight to the socket; the
// library sends only control frames through it (ping, pong, close: at most 139 bytes, one
// write each from its 160-byte buffer). The hub's messages do not go through the library:
// writeFrame sends a whole frame, encoded once for every watcher (ws_frames.go), in one write.
// mu keeps the two kinds of write from interleaving.
type burstWriter struct {
	conn net.Conn
	mu   sync.Mutex
}

func (w *burstWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conn.Write(p)
}

// writeFrame sends one complete WebSocket frame.
func (w *burstWriter) writeFrame(f []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.conn.Write(f)
	return err
}
