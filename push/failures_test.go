package push_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"circly/push"
	"circly/push/pushtest"
)

func TestSendSurvivesNetworkDownThenUp(t *testing.T) {
	srv := pushtest.New(t)
	o := fast(srv)
	o.BaseBackoff, o.MaxBackoff, o.MaxAttempts = 20*time.Millisecond, 100*time.Millisecond, 50
	core, logs := observer.New(zapcore.WarnLevel)
	o.Log = zap.New(core)
	c := push.New(o)
	// A first send leaves a keep-alive connection for Down to cut.
	if _, err := c.Send(context.Background(), messages(1, 0)); err != nil {
		t.Fatal(err)
	}

	srv.Down()
	up := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		up <- srv.Up()
	}()
	tickets, err := c.Send(context.Background(), messages(3, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-up; err != nil {
		t.Fatal(err)
	}
	if len(tickets) != 3 || tickets[0].Status != push.StatusOK {
		t.Fatalf("tickets %+v", tickets)
	}
	if got := srv.Messages(); len(got) != 4 || got[3].To != token(3) {
		t.Fatalf("fake has %d messages", len(got))
	}
	var refused int
	for _, e := range logs.FilterMessage("expo request failed, retrying").All() {
		if strings.Contains(e.ContextMap()["reason"].(string), "connection refused") {
			refused++
		}
	}
	if refused == 0 {
		t.Fatalf("no attempt met the server down: %v", logs.All())
	}
}

func TestSendRetriesDroppedConnection(t *testing.T) {
	srv := pushtest.New(t)
	srv.DropNext(2)
	tickets, err := push.New(fast(srv)).Send(context.Background(), messages(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(tickets) != 2 || len(reqs) != 3 || reqs[0].Status != 0 || reqs[2].Status != 200 {
		t.Fatalf("tickets %d, requests %+v", len(tickets), reqs)
	}

	srv.DropNext(5)
	o := fast(srv)
	o.MaxAttempts = 2
	_, err = push.New(o).Send(context.Background(), messages(1, 0))
	se := asSendError(t, err)
	if !se.Retryable || se.Status != 0 || se.Attempts != 2 || errors.Unwrap(se) == nil {
		t.Fatalf("got %+v", se)
	}
}

func TestSendReturnsErrorTicketsNotErrors(t *testing.T) {
	srv := pushtest.New(t)
	srv.MarkUnregistered(token(1))
	core, logs := observer.New(zapcore.DebugLevel)
	o := fast(srv)
	o.Log = zap.New(core)
	errBefore, okBefore := counter("error"), counter("ok")

	msgs := messages(3, 0)
	msgs = append(msgs, push.Message{To: "not-a-token", Title: "x"})
	tickets, err := push.New(o).Send(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(tickets) != 4 {
		t.Fatalf("%d tickets", len(tickets))
	}
	for i, want := range []string{push.StatusOK, push.StatusError, push.StatusOK, push.StatusError} {
		if tickets[i].Status != want {
			t.Fatalf("ticket %d = %+v, want status %s", i, tickets[i], want)
		}
	}
	if tk := tickets[1]; tk.Error != push.ErrorDeviceNotRegistered || tk.ID != "" || tk.Message == "" {
		t.Fatalf("error ticket %+v", tk)
	}
	if strings.Contains(tickets[1].Message, token(1)) {
		t.Fatalf("ticket message carries the full token: %q", tickets[1].Message)
	}
	if counter("error")-errBefore != 2 || counter("ok")-okBefore != 2 {
		t.Fatalf("metrics: error +%v ok +%v", counter("error")-errBefore, counter("ok")-okBefore)
	}
	refused := logs.FilterMessage("expo refused a push").All()
	if len(refused) != 2 {
		t.Fatalf("%d refusal logs", len(refused))
	}
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && (strings.Contains(s, token(1)) || strings.Contains(s, "tok000001xyz")) {
				t.Fatalf("log %q field %s carries the token: %q", e.Message, k, s)
			}
		}
	}
}

func TestReceiptsChunksOf1000(t *testing.T) {
	srv := pushtest.New(t)
	srv.MarkUnregisteredOnReceipt(token(7))
	c := push.New(fast(srv))
	tickets, err := c.Send(context.Background(), messages(1200, 0))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(tickets)+1)
	for _, tk := range tickets {
		ids = append(ids, tk.ID)
	}
	ids = append(ids, "unknown-ticket")
	before := len(srv.Requests())

	receipts, err := c.Receipts(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()[before:]
	if len(reqs) != 2 || reqs[0].Count != 1000 || reqs[1].Count != 201 || reqs[0].Path != pushtest.ReceiptsPath || !reqs[0].Gzip {
		t.Fatalf("receipt requests %+v", reqs)
	}
	if len(receipts) != 1200 {
		t.Fatalf("%d receipts, want 1200 (the unknown id absent)", len(receipts))
	}
	if r := receipts[tickets[7].ID]; r.Status != push.StatusError || r.Error != push.ErrorDeviceNotRegistered {
		t.Fatalf("receipt of the unregistered token: %+v", r)
	}
	if r := receipts[tickets[8].ID]; r.Status != push.StatusOK || r.Error != "" {
		t.Fatalf("receipt %+v", r)
	}

	empty, err := c.Receipts(context.Background(), nil)
	if err != nil || len(empty) != 0 || len(srv.Requests()) != before+2 {
		t.Fatalf("empty receipts: %v, %v", empty, err)
	}
}

func TestReceiptsRetryAndFail(t *testing.T) {
	srv := pushtest.New(t)
	c := push.New(fast(srv))
	tickets, err := c.Send(context.Background(), messages(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext(2, http.StatusInternalServerError)
	got, err := c.Receipts(context.Background(), []string{tickets[0].ID, tickets[1].ID})
	if err != nil || len(got) != 2 {
		t.Fatalf("%v, %v", got, err)
	}
	srv.RequireToken("other")
	_, err = c.Receipts(context.Background(), []string{tickets[0].ID})
	if se := asSendError(t, err); se.Status != 401 || se.Retryable {
		t.Fatalf("got %+v", se)
	}
}

func TestCancelStopsRetriesPromptly(t *testing.T) {
	srv := pushtest.New(t)
	srv.FailNext(1000, http.StatusInternalServerError)
	c := push.New(push.Options{URL: srv.URL(), BaseBackoff: 10 * time.Second, MaxBackoff: 10 * time.Second, MaxAttempts: 100})

	// Canceled while waiting between attempts.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Send(ctx, messages(1, 0))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if se := asSendError(t, err); !se.Retryable || se.Attempts < 1 {
		t.Fatalf("got %+v", se)
	}
	// The wait is up to 10 s; being back long before shows cancel cut it.
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("cancel took %v to stop the retries", took)
	}

	// A deadline shorter than the next wait ends the attempts without sleeping.
	dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer dcancel()
	n := len(srv.Requests())
	_, err = c.Send(dctx, messages(1, 0))
	// Usually the first wait drawn (up to 10 s) is longer than the 3 s left
	// and the attempts end at once; if shorter, the deadline ends them.
	if se := asSendError(t, err); !strings.Contains(se.Reason, "no time left") && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %+v", se)
	}
	if len(srv.Requests()) == n {
		t.Fatal("no attempt was made")
	}

	// Already canceled: no request at all.
	n = len(srv.Requests())
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := c.Send(cctx, messages(1, 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if len(srv.Requests()) != n {
		t.Fatal("a canceled send reached the server")
	}
}

func TestConcurrentSends(t *testing.T) {
	srv := pushtest.New(t)
	srv.FailNext(5, http.StatusServiceUnavailable)
	srv.RateLimitNext(3, 0)
	srv.DropNext(2)
	o := fast(srv)
	o.MaxAttempts = 20
	c := push.New(o)

	const senders, each = 16, 150
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		wg.Go(func() {
			msgs := messages(each, g*each)
			tickets, err := c.Send(context.Background(), msgs)
			if err != nil {
				errs <- err
				return
			}
			if len(tickets) != each {
				errs <- errors.New("short ticket list")
				return
			}
			for i, tk := range tickets {
				if tk.Status != push.StatusOK || tk.ID == "" {
					errs <- errors.New("bad ticket " + tk.ID + " for " + msgs[i].To)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := srv.Messages()
	count := map[string]int{}
	for _, m := range got {
		count[m.To]++
	}
	if len(got) != senders*each || len(count) != senders*each {
		t.Fatalf("fake got %d messages for %d tokens, want %d each once", len(got), len(count), senders*each)
	}
}

// Expo can answer 200 with only "errors" (the whole request refused) or with
// a ticket list that does not match the messages; neither may pass as success.
func TestSendRejectsUnusableAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"whole-request error": `{"errors":[{"code":"PUSH_TOO_MANY_EXPERIENCE_IDS","message":"All push notification messages in the same request must be for the same project; ExponentPushToken[secretsecret123] is not"}]}`,
		"too few tickets":     `{"data":[{"status":"ok","id":"a"}]}`,
		"not json":            `<html>gateway</html>`,
	} {
		t.Run(name, func(t *testing.T) {
			var hits int
			var mu sync.Mutex
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				hits++
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(body))
			}))
			defer ts.Close()
			_, err := push.New(push.Options{URL: ts.URL + "/push/send"}).Send(context.Background(), messages(2, 0))
			se := asSendError(t, err)
			if se.Retryable || se.Status != 200 {
				t.Fatalf("got %+v", se)
			}
			if strings.Contains(se.Error(), "secretsecret123") {
				t.Fatalf("reason carries a full token: %s", se.Error())
			}
			mu.Lock()
			defer mu.Unlock()
			if hits != 1 {
				t.Fatalf("%d requests, want 1", hits)
			}
		})
	}
}

func TestServiceUnavailableRetryAfterIsHonoured(t *testing.T) {
	var hits atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer ts.Close()
	_, err := push.New(push.Options{URL: ts.URL, BaseBackoff: time.Millisecond, MaxBackoff: time.Second}).
		Send(context.Background(), messages(1, 0))
	se := asSendError(t, err)
	if !se.Retryable || se.Status != 503 || se.RetryAfter != 2*time.Minute || hits.Load() != 1 {
		t.Fatalf("got %+v after %d requests", se, hits.Load())
	}
}
