// Package pushtest is a fake Expo push service for tests: a real HTTP server on
// 127.0.0.1 speaking Expo's send and getReceipts API, whose failures a test
// can script.
//
//	srv := pushtest.New(t)                      // closed by t.Cleanup
//	c := push.New(push.Options{URL: srv.URL()}) // receipts URL derived from it
//	srv.MarkUnregistered(tok)                   // tok gets DeviceNotRegistered error tickets
//	srv.RateLimitNext(2, time.Second)           // next 2 requests: 429, Retry-After: 1
//	srv.FailNext(1, 500)                        // next request: 500
//	srv.Down(); …; srv.Up()                     // connection refused, then back on the same port
//	msgs := srv.Messages()                      // every message Expo "received"
//
// Like Expo it answers more than 100 messages (or 1000 receipt ids) in one
// request with a 400, accepts gzip request bodies, gzips its answers when
// asked to, checks the bearer token when RequireToken was called, and answers
// a "to" that is not ExponentPushToken[…] or ExpoPushToken[…] with a
// DeviceNotRegistered error ticket. Every ok ticket has a receipt at once:
// ok, or DeviceNotRegistered for tokens marked with MarkUnregisteredOnReceipt
// (at the time the receipt is read).
//
// Scripted failures take one request each, to either endpoint, before any
// other check: DropNext's first, then FailNext's and RateLimitNext's in the
// order they were asked for. Messages are recorded only from requests that
// were answered with tickets.
package pushtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"circly/push"
)

// Paths the fake serves, as Expo lays them out.
const (
	SendPath     = "/--/api/v2/push/send"
	ReceiptsPath = "/--/api/v2/push/getReceipts"
)

// Request is what the fake saw of one request.
type Request struct {
	Path string
	// Gzip is true when the body came with Content-Encoding: gzip.
	Gzip bool
	// Authorization is the header as received.
	Authorization string
	// Count is the number of messages (send) or ids (receipts) in the body;
	// -1 when the body could not be read.
	Count int
	// Status is the answer given; 0 when the connection was dropped.
	Status int
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	life   sync.Mutex // serializes Down, Up and Close
	closed bool       // under life: Close was called, Up refuses

	mu            sync.Mutex
	hs            *httptest.Server // nil while down
	addr          string
	token         string
	drops         int
	fails         []failure
	unregistered  map[string]bool
	lateUnregistr map[string]bool
	messages      []push.Message
	requests      []Request
	tickets       map[string]string // ticket id → token
	nextID        int
	changed       chan struct{} // closed and replaced whenever messages grow
}

type failure struct {
	status     int
	retryAfter time.Duration
}

// New starts a fake on a free 127.0.0.1 port and closes it when tb ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		unregistered: map[string]bool{}, lateUnregistr: map[string]bool{},
		tickets: map[string]string{}, changed: make(chan struct{}),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("pushtest: listen: %v", err)
	}
	s.addr = l.Addr().String()
	s.start(l)
	tb.Cleanup(s.Close)
	return s
}

// URL is the send endpoint, for push.Options.URL.
func (s *Server) URL() string { return "http://" + s.addr + SendPath }

// ReceiptsURL is the getReceipts endpoint.
func (s *Server) ReceiptsURL() string { return "http://" + s.addr + ReceiptsPath }

// Addr is the host:port the fake listens on, the same across Down and Up.
func (s *Server) Addr() string { return s.addr }

// RequireToken makes the fake answer 401 unless requests carry
// "Authorization: Bearer <tok>"; "" turns the check off.
func (s *Server) RequireToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = tok
}

// FailNext answers the next n requests with status and an Expo error body.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, failure{status: status})
	}
}

// RateLimitNext answers the next n requests with 429 and, when retryAfter is
// positive, a Retry-After header of that many seconds (rounded up).
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, failure{status: http.StatusTooManyRequests, retryAfter: retryAfter})
	}
}

// DropNext resets the connection of the next n requests without answering,
// after reading them: the client cannot tell whether they were processed.
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops += n
}

// MarkUnregistered makes sends to these tokens get a DeviceNotRegistered
// error ticket, as Expo answers for an uninstalled app.
func (s *Server) MarkUnregistered(tokens ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range tokens {
		s.unregistered[t] = true
	}
}

// MarkUnregisteredOnReceipt makes sends to these tokens get an ok ticket whose
// receipt is a DeviceNotRegistered error, as when Apple or Google refuse the
// notification after Expo queued it.
func (s *Server) MarkUnregisteredOnReceipt(tokens ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range tokens {
		s.lateUnregistr[t] = true
	}
}

// Down closes the listener and every connection: clients get connection
// refused until Up.
func (s *Server) Down() {
	s.life.Lock()
	defer s.life.Unlock()
	s.down()
}

func (s *Server) down() {
	s.mu.Lock()
	hs := s.hs
	s.hs = nil
	s.mu.Unlock()
	if hs != nil {
		hs.CloseClientConnections()
		hs.Close()
	}
}

// Up listens again on the same address. It is a no-op when already up, and
// an error after Close.
func (s *Server) Up() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return errors.New("pushtest: Up after Close")
	}
	s.mu.Lock()
	up := s.hs != nil
	s.mu.Unlock()
	if up {
		return nil
	}
	var l net.Listener
	var err error
	// The port was ours a moment ago; retry briefly in case the kernel has
	// not let go of it yet.
	for range 50 {
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("pushtest: listen again on %s: %w", s.addr, err)
	}
	s.start(l)
	return nil
}

// Close shuts the fake down for good; New arranges it through tb.Cleanup.
func (s *Server) Close() {
	s.life.Lock()
	defer s.life.Unlock()
	s.closed = true
	s.down()
}

func (s *Server) start(l net.Listener) {
	hs := &httptest.Server{Listener: l, Config: &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}}
	hs.Start()
	s.mu.Lock()
	s.hs = hs
	s.mu.Unlock()
}

// Messages returns a copy of every message received in a request the fake
// answered with tickets, in arrival order (error-ticket ones included).
func (s *Server) Messages() []push.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]push.Message(nil), s.messages...)
}

// Requests returns a copy of every request seen, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// WaitMessages blocks until at least n messages were received, or ctx ends,
// and returns them.
func (s *Server) WaitMessages(ctx context.Context, n int) ([]push.Message, error) {
	for {
		s.mu.Lock()
		got, changed := len(s.messages), s.changed
		if got >= n {
			msgs := append([]push.Message(nil), s.messages...)
			s.mu.Unlock()
			return msgs, nil
		}
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("pushtest: %d of %d messages received: %w", got, n, ctx.Err())
		}
	}
}
