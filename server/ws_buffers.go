package server

import (
	"bufio"
	"net"

	"github.com/gin-gonic/gin"
)

// Buffer sizes of a hijacked WebSocket connection. net/http hands over a 4 KiB reader and a
// fresh 4 KiB writer; an idle connection mostly waits, client frames are at most 4 KiB and
// a tally frame is a few hundred bytes, so 1 KiB each keeps typical frames to one syscall and
// saves 6 KiB per connection (a larger frame is written straight through).
const (
	wsReadBuffer  = 1024
	wsWriteBuffer = 1024
)

// smallBuffers is the response writer given to websocket.Accept: its Hijack swaps net/http's
// buffers for smaller ones. Everything else (WriteHeaderNow included) is gin's.
type smallBuffers struct{ gin.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := w.ResponseWriter.Hijack()
	if err != nil {
		return conn, brw, err
	}
	n := brw.Reader.Buffered()
	if n > wsReadBuffer {
		return conn, brw, nil // bytes the client sent ahead do not fit: keep net/http's reader
	}
	br := bufio.NewReaderSize(conn, wsReadBuffer)
	if n > 0 {
		// Carry over what the client sent ahead of the 101 (pipelined frames): Accept keeps
		// the reader's buffered bytes, so they must sit in the new buffer.
		pending, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(&prefixReader{pending: append([]byte(nil), pending...), conn: conn}, wsReadBuffer)
		if _, err := br.Peek(n); err != nil {
			return conn, brw, nil
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, wsWriteBuffer)), nil
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
