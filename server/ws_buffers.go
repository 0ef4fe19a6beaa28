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
//   - writes: the hub's frames go through burstWriter, which gathers a whole frame in a pooled
//     buffer and sends it in one write, so the connection's own buffer only carries control
//     frames (ping, pong, close: at most 125 bytes of payload and 14 of header).
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

// burstWriter sits under the WebSocket's bufio.Writer. Outside a hold it writes straight to
// the socket. Between hold and release it gathers everything written (the frame header and
// the payload, which the small bufio.Writer hands over in pieces) in a buffer borrowed from a
// pool, and release sends it with one write: one syscall per frame whatever its size, with no
// large buffer kept per idle connection.
type burstWriter struct {
	conn net.Conn
	mu   sync.Mutex // orders held bytes against writes from other goroutines (pongs, close)
	held *[]byte    // non-nil while holding
}

var burstPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBurst keeps a rare huge frame's buffer out of the pool.
const maxPooledBurst = 64 << 10

func (w *burstWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held != nil {
		*w.held = append(*w.held, p...)
		return len(p), nil
	}
	return w.conn.Write(p)
}

// hold starts gathering writes.
func (w *burstWriter) hold() {
	w.mu.Lock()
	if w.held == nil {
		b, ok := burstPool.Get().(*[]byte)
		if !ok {
			b = new([]byte)
		}
		w.held = b
	}
	w.mu.Unlock()
}

// release sends what was gathered since hold (when send is true; a failed frame write may
// have left a partial frame, which must not reach the client) and goes back to writing
// straight through.
func (w *burstWriter) release(send bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.held
	if b == nil {
		return nil
	}
	w.held = nil
	var err error
	if send && len(*b) > 0 {
		_, err = w.conn.Write(*b)
	}
	if cap(*b) <= maxPooledBurst {
		*b = (*b)[:0]
		burstPool.Put(b)
	}
	return err
}
