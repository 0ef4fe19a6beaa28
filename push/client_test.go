package push_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"circly/metrics"
	"circly/push"
	"circly/push/pushtest"
)

// fast are options that keep retries quick in tests.
func fast(srv *pushtest.Server) push.Options {
	return push.Options{URL: srv.URL(), BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
}

func token(i int) string { return fmt.Sprintf("ExponentPushToken[tok%06dxyzabcdefgh]", i) }

func messages(n, from int) []push.Message {
	msgs := make([]push.Message, n)
	for i := range msgs {
		msgs[i] = push.Message{To: token(from + i), Title: "New poll", Body: fmt.Sprintf("body %d", from+i),
			Data: map[string]string{"type": "poll_created", "poll_id": fmt.Sprint(from + i)}, Sound: "default"}
	}
	return msgs
}

func counter(result string) float64 {
	return testutil.ToFloat64(metrics.PushSent.WithLabelValues(result))
}

func asSendError(t *testing.T, err error) *push.SendError {
	t.Helper()
	var se *push.SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *push.SendError", err, err)
	}
	return se
}

func TestSendBatchesOf100InOrder(t *testing.T) {
	srv := pushtest.New(t)
	c := push.New(fast(srv))
	okBefore := counter("ok")

	msgs := messages(250, 0)
	tickets, err := c.Send(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(tickets) != 250 {
		t.Fatalf("got %d tickets, want 250", len(tickets))
	}
	reqs := srv.Requests()
	if len(reqs) != 3 || reqs[0].Count != 100 || reqs[1].Count != 100 || reqs[2].Count != 50 {
		t.Fatalf("requests %+v, want 3 of 100, 100, 50", reqs)
	}
	got := srv.Messages()
	seen := map[string]bool{}
	for i, m := range got {
		if m.To != msgs[i].To || m.Body != msgs[i].Body || m.Data["poll_id"] != msgs[i].Data["poll_id"] || m.Sound != "default" {
			t.Fatalf("message %d arrived as %+v, sent %+v", i, m, msgs[i])
		}
		if tickets[i].Status != push.StatusOK || tickets[i].ID == "" || seen[tickets[i].ID] {
			t.Fatalf("ticket %d = %+v", i, tickets[i])
		}
		seen[tickets[i].ID] = true
	}
	if d := counter("ok") - okBefore; d != 250 {
		t.Fatalf("push_sent_total{result=ok} grew by %v, want 250", d)
	}

	if tickets, err := c.Send(context.Background(), nil); err != nil || len(tickets) != 0 {
		t.Fatalf("empty send: %v, %v", tickets, err)
	}
	if n := len(srv.Requests()); n != 3 {
		t.Fatalf("an empty send made a request (%d requests)", n)
	}
}

func TestSendGzipsLargeBodies(t *testing.T) {
	srv := pushtest.New(t)
	c := push.New(fast(srv))
	if _, err := c.Send(context.Background(), messages(1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), messages(40, 1)); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Gzip || !reqs[1].Gzip || reqs[1].Count != 40 {
		t.Fatalf("requests %+v: want a plain small body then a gzipped one of 40", reqs)
	}
	if got := srv.Messages(); len(got) != 41 || got[40].Body != "body 40" {
		t.Fatalf("gzipped messages did not arrive intact: %d, last %+v", len(got), got[len(got)-1])
	}
}

func TestSendBearerToken(t *testing.T) {
	srv := pushtest.New(t)
	srv.RequireToken("s3cret")

	o := fast(srv)
	o.AccessToken = "s3cret"
	if _, err := push.New(o).Send(context.Background(), messages(1, 0)); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests()[0].Authorization; got != "Bearer s3cret" {
		t.Fatalf("Authorization %q", got)
	}

	_, err := push.New(fast(srv)).Send(context.Background(), messages(1, 0))
	se := asSendError(t, err)
	if se.Status != http.StatusUnauthorized || se.Retryable || se.Attempts != 1 || !strings.Contains(se.Reason, "UNAUTHORIZED") {
		t.Fatalf("without token: %+v", se)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Fatalf("a 401 was retried: %d requests", n)
	}
}

func TestSendRetriesRateLimitAndServerErrors(t *testing.T) {
	srv := pushtest.New(t)
	srv.RateLimitNext(1, time.Second)
	srv.FailNext(2, http.StatusInternalServerError)
	o := fast(srv)
	o.MaxBackoff = 2 * time.Second // Retry-After: 1 is within the cap, so it is honored
	c := push.New(o)
	retryBefore := counter("retry")

	start := time.Now()
	tickets, err := c.Send(context.Background(), messages(3, 0))
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("Retry-After of 1s not honored: done after %v", waited)
	}
	if len(tickets) != 3 || tickets[2].Status != push.StatusOK {
		t.Fatalf("tickets %+v", tickets)
	}
	reqs := srv.Requests()
	if len(reqs) != 4 || reqs[0].Status != 429 || reqs[1].Status != 500 || reqs[2].Status != 500 || reqs[3].Status != 200 {
		t.Fatalf("requests %+v", reqs)
	}
	if got := len(srv.Messages()); got != 3 {
		t.Fatalf("fake recorded %d messages, want 3", got)
	}
	if d := counter("retry") - retryBefore; d != 9 {
		t.Fatalf("push_sent_total{result=retry} grew by %v, want 3 retries × 3 messages", d)
	}
}

func TestSendGivesUpAfterMaxAttempts(t *testing.T) {
	srv := pushtest.New(t)
	srv.FailNext(10, http.StatusServiceUnavailable)
	o := fast(srv)
	o.MaxAttempts = 3
	errBefore := counter("error")

	tickets, err := push.New(o).Send(context.Background(), messages(5, 0))
	se := asSendError(t, err)
	if !se.Retryable || se.Status != 503 || se.Attempts != 3 || len(tickets) != 0 {
		t.Fatalf("got %+v with %d tickets", se, len(tickets))
	}
	if !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("error text %q", err)
	}
	if n := len(srv.Requests()); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	if d := counter("error") - errBefore; d != 5 {
		t.Fatalf("push_sent_total{result=error} grew by %v, want 5", d)
	}
}

func TestSendStopsOnRetryAfterBeyondCap(t *testing.T) {
	srv := pushtest.New(t)
	srv.RateLimitNext(1, 60*time.Second)
	tickets, err := push.New(fast(srv)).Send(context.Background(), messages(2, 0))
	se := asSendError(t, err)
	if !se.Retryable || se.Status != 429 || se.RetryAfter != 60*time.Second || len(tickets) != 0 {
		t.Fatalf("got %+v", se)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestSendDoesNotRetryRejectedRequests(t *testing.T) {
	srv := pushtest.New(t)
	srv.FailNext(1, http.StatusBadRequest)
	_, err := push.New(fast(srv)).Send(context.Background(), messages(2, 0))
	se := asSendError(t, err)
	if se.Retryable || se.Status != 400 || se.Attempts != 1 {
		t.Fatalf("got %+v", se)
	}
	if _, err := push.New(fast(srv)).Send(context.Background(), []push.Message{{Title: "no recipient"}}); err == nil {
		t.Fatal("a message without recipient was accepted")
	}
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// A later batch failing returns the tickets of the batches Expo took, so the
// caller knows exactly which messages still need sending.
func TestSendPartialFailureReturnsAcceptedTickets(t *testing.T) {
	srv := pushtest.New(t)
	var calls atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 2 {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`{"errors":[{"code":"BAD_GATEWAY","message":"upstream"}]}`))
			return
		}
		proxy(t, w, r, srv.URL())
	}))
	defer front.Close()
	c := push.New(push.Options{URL: front.URL + pushtest.SendPath, MaxAttempts: 1})

	tickets, err := c.Send(context.Background(), messages(250, 0))
	se := asSendError(t, err)
	if len(tickets) != 100 || se.Status != 502 || se.Retryable != true || !strings.Contains(se.Reason, "BAD_GATEWAY") {
		t.Fatalf("got %d tickets and %+v", len(tickets), se)
	}
	if got := srv.Messages(); len(got) != 100 || got[99].To != token(99) {
		t.Fatalf("fake received %d messages", len(got))
	}
}

// proxy forwards r to target and copies the answer back.
func proxy(t *testing.T, w http.ResponseWriter, r *http.Request, target string) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target, r.Body)
	if err != nil {
		t.Error(err)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		_, _ = w.Write(buf[:n])
		if err != nil {
			return
		}
	}
}
