package monitor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hook is a Slack-compatible receiver that fails its first failures requests with status.
type hook struct {
	mu       sync.Mutex
	texts    []string
	requests int
	failures int
	status   int
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	if h.requests <= h.failures {
		w.WriteHeader(h.status)
		return
	}
	var body struct{ Text string }
	if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil || body.Text == "" {
		http.Error(w, "want a JSON body with text", http.StatusBadRequest)
		return
	}
	h.texts = append(h.texts, body.Text)
}

func (h *hook) got() (texts []string, requests int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.texts...), h.requests
}

func startHook(t *testing.T, h *hook) Webhook {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return Webhook{URL: srv.URL + "/services/T0/B0/token", Client: &http.Client{Timeout: 2 * time.Second}}
}

var fastRetry = Retry{Attempts: 3, Backoff: 10 * time.Millisecond}

func TestWebhookRetriesTransientFailures(t *testing.T) {
	h := &hook{failures: 2, status: http.StatusBadGateway}
	a := Alert{Kind: KindDown, URL: "http://10.0.0.5:8000", Detail: "connection refused"}
	attempts, err := fastRetry.deliver(context.Background(), startHook(t, h), a)
	if err != nil || attempts != 3 {
		t.Fatalf("deliver: %d attempts, %v; want success on the third", attempts, err)
	}
	texts, _ := h.got()
	if len(texts) != 1 || texts[0] != "DOWN: http://10.0.0.5:8000 (connection refused)" {
		t.Errorf("received %q", texts)
	}
}

func TestWebhookGivesUp(t *testing.T) {
	h := &hook{failures: 100, status: http.StatusServiceUnavailable}
	attempts, err := fastRetry.deliver(context.Background(), startHook(t, h), Alert{Kind: KindDown})
	if err == nil || attempts != 3 {
		t.Fatalf("deliver to a failing webhook: %d attempts, %v; want 3 and an error", attempts, err)
	}
	// A 4xx will not change: one attempt.
	h = &hook{failures: 100, status: http.StatusNotFound}
	attempts, err = fastRetry.deliver(context.Background(), startHook(t, h), Alert{Kind: KindDown})
	if err == nil || attempts != 1 {
		t.Fatalf("deliver to a 404: %d attempts, %v; want 1 and an error", attempts, err)
	}
}

func TestWebhookErrorHidesToken(t *testing.T) {
	w := Webhook{URL: closedPort(t) + "/services/secret-token", Client: &http.Client{Timeout: time.Second}}
	err := w.Send(context.Background(), Alert{Kind: KindDown})
	if err == nil || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error %v: want one without the webhook's token", err)
	}
}
