package server

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// sharedFrame is p as one unmasked, final WebSocket text frame (RFC 6455 §5.2), as the server
// sends it, for a payload the hub fans out: the same slice, never changed afterwards, goes to
// every watcher of a message (hub.SharedWriter). The frames of the last few such payloads are
// kept with their source, so a tally to 5,000 watchers is framed and copied once, not 5,000
// times (the hot poll's profile showed the per-write framing and copy as 12 % of the server's
// CPU with full tallies; with compact ones it was an allocation per watcher). A few slots, not
// one: watchers of both tally forms, or of several polls, are written interleaved. Keeping the
// source alive also keeps its address from being reused by another payload while it is a key.
func sharedFrame(p []byte) []byte {
	if len(p) == 0 {
		return textFrame(p)
	}
	slot := &frameSlots[frameSlot(p)]
	if e := slot.Load(); e != nil && len(e.src) == len(p) && &e.src[0] == &p[0] {
		return e.frame
	}
	f := textFrame(p)
	slot.Store(&encodedFrame{src: p, frame: f})
	return f
}

type encodedFrame struct{ src, frame []byte }

// frameSlots: a message is looked up in the slot its address falls in.
var frameSlots [16]atomic.Pointer[encodedFrame]

// frameSlot hashes p's address (Fibonacci hashing: large payloads sit at multiples of their
// size class, which a plain modulo would send to one slot).
func frameSlot(p []byte) int {
	addr := uintptr(unsafe.Pointer(&p[0])) //nolint:gosec // only hashed, never turned back into a pointer
	return int((uint64(addr) * 0x9e3779b97f4a7c15) >> 60)
}

// textFrame frames p anew: for a connection's own frames (ready, subscribed, pong, errors).
func textFrame(p []byte) []byte { return appendTextFrame(make([]byte, 0, len(p)+10), p) }

func appendTextFrame(b, p []byte) []byte {
	n := len(p)
	switch {
	case n < 126:
		b = append(b, 0x81, byte(n))
	case n <= 0xffff:
		b = append(b, 0x81, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x81, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}
