package pushtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"circly/push"
)

// This file is the fake's side of Expo's API: reading requests, scripted
// failures, tickets and receipts.

const maxBody = 16 << 20

var validToken = regexp.MustCompile(`^Expo(nent)?PushToken\[[^\]]+\]$`)

type expoError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type ticket struct {
	Status  string   `json:"status"`
	ID      string   `json:"id,omitempty"`
	Message string   `json:"message,omitempty"`
	Details *details `json:"details,omitempty"`
}

type details struct {
	Error string `json:"error"`
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Request{Path: r.URL.Path, Gzip: strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip"),
		Authorization: r.Header.Get("Authorization"), Count: -1}
	body, readErr := readBody(r, rec.Gzip)

	var msgs []push.Message
	var ids []string
	var parseErr error
	switch {
	case readErr != nil:
	case r.URL.Path == SendPath:
		msgs, parseErr = parseMessages(body)
		if parseErr == nil {
			rec.Count = len(msgs)
		}
	case r.URL.Path == ReceiptsPath:
		var req struct {
			IDs []string `json:"ids"`
		}
		if parseErr = json.Unmarshal(body, &req); parseErr == nil {
			ids, rec.Count = req.IDs, len(req.IDs)
		}
	}

	s.mu.Lock()
	switch {
	case s.drops > 0:
		s.drops--
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
		drop(w)
		return
	case len(s.fails) > 0:
		f := s.fails[0]
		s.fails = s.fails[1:]
		rec.Status = f.status
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.retryAfter+time.Second-1)/time.Second)))
		}
		code := "INTERNAL_SERVER_ERROR"
		if f.status == http.StatusTooManyRequests {
			code = "TOO_MANY_REQUESTS"
		}
		writeErrors(w, r, f.status, code, "scripted failure")
		return
	}
	status, answer := s.answer(r, msgs, ids, readErr, parseErr)
	rec.Status = status
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	writeJSON(w, r, status, answer)
}

// answer decides the reply to a request that is not a scripted failure.
// s.mu is held.
func (s *Server) answer(r *http.Request, msgs []push.Message, ids []string, readErr, parseErr error) (int, any) {
	fail := func(status int, code, msg string) (int, any) {
		return status, map[string]any{"errors": []expoError{{Code: code, Message: msg}}}
	}
	switch {
	case r.Method != http.MethodPost:
		return fail(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use POST")
	case r.URL.Path != SendPath && r.URL.Path != ReceiptsPath:
		return fail(http.StatusNotFound, "NOT_FOUND", "no such endpoint")
	case s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token:
		return fail(http.StatusUnauthorized, "UNAUTHORIZED", "The bearer token is invalid; check the access token you are using.")
	case readErr != nil:
		return fail(http.StatusBadRequest, "VALIDATION_ERROR", "unreadable body: "+readErr.Error())
	case parseErr != nil:
		return fail(http.StatusBadRequest, "VALIDATION_ERROR", "invalid JSON: "+parseErr.Error())
	case r.URL.Path == ReceiptsPath:
		if len(ids) > push.MaxReceiptsPerRequest {
			return fail(http.StatusBadRequest, "PUSH_TOO_MANY_RECEIPTS",
				fmt.Sprintf("You are trying to get more than %d push receipts in one request", push.MaxReceiptsPerRequest))
		}
		return http.StatusOK, map[string]any{"data": s.receipts(ids)}
	case len(msgs) > push.MaxMessagesPerRequest:
		return fail(http.StatusBadRequest, "PUSH_TOO_MANY_NOTIFICATIONS",
			fmt.Sprintf("You are trying to send more than %d push notifications in one request", push.MaxMessagesPerRequest))
	}
	tickets := make([]ticket, len(msgs))
	for i, m := range msgs {
		if !validToken.MatchString(m.To) || s.unregistered[m.To] {
			tickets[i] = ticket{Status: "error", Message: fmt.Sprintf("%q is not a registered push notification recipient", m.To),
				Details: &details{Error: push.ErrorDeviceNotRegistered}}
			continue
		}
		s.nextID++
		id := fmt.Sprintf("ticket-%08d", s.nextID)
		s.tickets[id] = m.To
		tickets[i] = ticket{Status: "ok", ID: id}
	}
	s.messages = append(s.messages, msgs...)
	if len(msgs) > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	return http.StatusOK, map[string]any{"data": tickets}
}

// receipts answers ids it issued; others are left out, as Expo does.
func (s *Server) receipts(ids []string) map[string]ticket {
	out := make(map[string]ticket, len(ids))
	for _, id := range ids {
		tok, ok := s.tickets[id]
		if !ok {
			continue
		}
		if s.lateUnregistr[tok] {
			out[id] = ticket{Status: "error", Message: "The recipient device is not registered with FCM.",
				Details: &details{Error: push.ErrorDeviceNotRegistered}}
			continue
		}
		out[id] = ticket{Status: "ok"}
	}
	return out
}

// parseMessages reads a send body: an array of messages, or one message.
func parseMessages(body []byte) ([]push.Message, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var m push.Message
		if err := json.Unmarshal(trimmed, &m); err != nil {
			return nil, err
		}
		return []push.Message{m}, nil
	}
	var msgs []push.Message
	err := json.Unmarshal(trimmed, &msgs)
	return msgs, err
}

func readBody(r *http.Request, gzipped bool) ([]byte, error) {
	var rd io.Reader = r.Body
	if gzipped {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	}
	b, err := io.ReadAll(io.LimitReader(rd, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("body over %d bytes", maxBody)
	}
	return b, nil
}

func writeErrors(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	writeJSON(w, r, status, map[string]any{"errors": []expoError{{Code: code, Message: msg}}})
}

// writeJSON answers v, gzipped when the client accepts it.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		b = buf.Bytes()
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// drop resets the connection: the client sees its request fail mid-flight.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("pushtest: connection cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST rather than FIN
	}
	_ = conn.Close()
}
