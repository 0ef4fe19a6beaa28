// Package testsentry is a local stand-in for Sentry's ingest endpoint: an HTTP server that
// accepts envelopes on POST /api/<project>/envelope/, decodes their items and keeps them, so
// tests check what a real SDK (in the test process or in a `circly serve` child) sent.
package testsentry

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Project is the project id of the DSN; requests for another are refused.
const Project = "42"

// maxEnvelope bounds one request body: the SDK's own limit is far below.
const maxEnvelope = 20 << 20

// Item is one decoded envelope item.
type Item struct {
	Type    string         // "event", "transaction", "client_report", ...
	Payload map[string]any // the item's JSON (nil if it is not an object)
	Raw     string         // the item's bytes as sent
}

// Tag is a tag of an event or transaction ("" when absent). The SDK sends tags as an object.
func (it Item) Tag(name string) string {
	tags, _ := it.Payload["tags"].(map[string]any)
	s, _ := tags[name].(string)
	return s
}

// Name is a transaction's name.
func (it Item) Name() string {
	s, _ := it.Payload["transaction"].(string)
	return s
}

// Sink is the fake endpoint.
type Sink struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	items    []Item
	rejected []string
}

// New starts a sink that stops when the test ends.
func New(t testing.TB) *Sink {
	s := &Sink{t: t}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// DSN is the SENTRY_DSN that points an SDK at this sink.
func (s *Sink) DSN() string {
	return "http://testkey@" + strings.TrimPrefix(s.srv.URL, "http://") + "/" + Project
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/"+Project+"/envelope/" {
		s.reject(fmt.Sprintf("%s %s", r.Method, r.URL.Path))
		http.Error(w, "not an envelope endpoint", http.StatusNotFound)
		return
	}
	if !strings.Contains(r.Header.Get("X-Sentry-Auth"), "sentry_key=testkey") {
		s.reject("no sentry_key in X-Sentry-Auth")
		http.Error(w, "missing auth", http.StatusUnauthorized)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, maxEnvelope)
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(body)
		if err != nil {
			s.reject("bad gzip: " + err.Error())
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
		body = z
	}
	raw, err := io.ReadAll(body)
	if err == nil {
		var items []Item
		if items, err = Decode(raw); err == nil {
			s.mu.Lock()
			s.items = append(s.items, items...)
			s.mu.Unlock()
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{}`))
			return
		}
	}
	s.reject("bad envelope: " + err.Error())
	http.Error(w, "bad envelope", http.StatusBadRequest)
}

func (s *Sink) reject(why string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, why)
	s.mu.Unlock()
}

// Decode splits an envelope: a header line, then per item a header line (type, optional
// length) and its payload (length bytes, or up to the next newline).
func Decode(raw []byte) ([]Item, error) {
	rd := bufio.NewReader(bytes.NewReader(raw))
	if _, err := rd.ReadBytes('\n'); err != nil {
		return nil, errors.New("no envelope header")
	}
	var items []Item
	for {
		line, err := rd.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) == 0 {
			if err != nil {
				return items, nil // the end
			}
			continue
		}
		var hdr struct {
			Type   string `json:"type"`
			Length *int   `json:"length"`
		}
		if err := json.Unmarshal(line, &hdr); err != nil {
			return nil, fmt.Errorf("item header %q: %w", line, err)
		}
		var payload []byte
		if hdr.Length != nil {
			payload = make([]byte, *hdr.Length)
			if _, err := io.ReadFull(rd, payload); err != nil {
				return nil, fmt.Errorf("%s item: short payload", hdr.Type)
			}
			_, _ = rd.ReadByte() // the newline after a sized payload, when there is one
		} else {
			payload, _ = rd.ReadBytes('\n')
			payload = bytes.TrimRight(payload, "\n")
		}
		it := Item{Type: hdr.Type, Raw: string(payload)}
		// Events and transactions are JSON; an attachment may be anything.
		if err := json.Unmarshal(payload, &it.Payload); err != nil && (hdr.Type == "event" || hdr.Type == "transaction") {
			return nil, fmt.Errorf("%s item: %w", hdr.Type, err)
		}
		items = append(items, it)
	}
}

// Items is everything received so far; it fails the test if a request was refused.
func (s *Sink) Items() []Item {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rejected) > 0 {
		s.t.Fatalf("the fake Sentry refused requests: %s", strings.Join(s.rejected, "; "))
	}
	return append([]Item(nil), s.items...)
}

// Of is the items of one type ("event", "transaction").
func (s *Sink) Of(typ string) []Item {
	s.t.Helper()
	var out []Item
	for _, it := range s.Items() {
		if it.Type == typ {
			out = append(out, it)
		}
	}
	return out
}

// WaitFor waits until an item of type typ matching ok has arrived and returns it; it fails
// the test after timeout.
func (s *Sink) WaitFor(typ string, timeout time.Duration, what string, ok func(Item) bool) Item {
	s.t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		for _, it := range s.Of(typ) {
			if ok(it) {
				return it
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %s (%s) reached the fake Sentry within %s; it has:\n%s", typ, what, timeout, s.Dump())
		}
	}
}

// Dump lists the items received, one per line (for failure messages).
func (s *Sink) Dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i, it := range s.items {
		b.WriteString(strconv.Itoa(i) + " " + it.Type + ": " + it.Raw + "\n")
	}
	return b.String()
}
