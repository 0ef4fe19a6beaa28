package pushtest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"circly/push"
	"circly/push/pushtest"
)

// post sends body to u as Expo clients do, optionally gzipped, and decodes
// the answer.
func post(t *testing.T, u, body string, gz bool) (int, map[string]json.RawMessage, http.Header) {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write([]byte(body))
		_ = zw.Close()
		rd = &buf
	}
	req, err := http.NewRequest(http.MethodPost, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req) // transparent gzip: the fake compresses for it
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, out, resp.Header
}

func msgsJSON(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"to":"ExponentPushToken[t%d]","title":"hi"}`, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestFakeSpeaksExpo(t *testing.T) {
	srv := pushtest.New(t)

	status, out, _ := post(t, srv.URL(), msgsJSON(101), true)
	if status != 400 || !strings.Contains(string(out["errors"]), "PUSH_TOO_MANY_NOTIFICATIONS") {
		t.Fatalf("101 messages: %d %s", status, out["errors"])
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("a refused request recorded %d messages", n)
	}

	// A single object is accepted as one message, as Expo does.
	status, out, _ = post(t, srv.URL(), `{"to":"ExponentPushToken[one]","body":"b"}`, false)
	var tickets []map[string]any
	if err := json.Unmarshal(out["data"], &tickets); status != 200 || err != nil || len(tickets) != 1 || tickets[0]["status"] != "ok" {
		t.Fatalf("single message: %d %s", status, out["data"])
	}
	id := tickets[0]["id"].(string)

	status, out, _ = post(t, srv.ReceiptsURL(), `{"ids":["`+id+`","nope"]}`, false)
	var receipts map[string]map[string]any
	if err := json.Unmarshal(out["data"], &receipts); status != 200 || err != nil || len(receipts) != 1 || receipts[id]["status"] != "ok" {
		t.Fatalf("receipts: %d %s", status, out["data"])
	}
	ids := make([]string, 1001)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	b, _ := json.Marshal(map[string]any{"ids": ids})
	if status, out, _ = post(t, srv.ReceiptsURL(), string(b), true); status != 400 || !strings.Contains(string(out["errors"]), "PUSH_TOO_MANY_RECEIPTS") {
		t.Fatalf("1001 ids: %d %s", status, out["errors"])
	}
	if status, _, _ = post(t, srv.URL(), `[{"to":`, false); status != 400 {
		t.Fatalf("broken JSON answered %d", status)
	}

	srv.RateLimitNext(1, 1500*time.Millisecond)
	srv.FailNext(1, 502)
	if status, out, h := post(t, srv.URL(), msgsJSON(1), false); status != 429 || h.Get("Retry-After") != "2" || out["errors"] == nil {
		t.Fatalf("rate limited: %d %q %s", status, h.Get("Retry-After"), out["errors"])
	}
	if status, _, _ := post(t, srv.URL(), msgsJSON(1), false); status != 502 {
		t.Fatalf("scripted 502 answered %d", status)
	}
	reqs := srv.Requests()
	if last := reqs[len(reqs)-1]; last.Status != 502 || last.Count != 1 || last.Path != pushtest.SendPath {
		t.Fatalf("last request %+v", last)
	}
}

func TestFakeDownUpAndWait(t *testing.T) {
	srv := pushtest.New(t)
	srv.Down()
	if _, err := http.Post(srv.URL(), "application/json", strings.NewReader("[]")); err == nil {
		t.Fatal("request reached a fake that is down")
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Up(); err != nil {
		t.Fatalf("second Up: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan []push.Message, 1)
	go func() {
		msgs, err := srv.WaitMessages(ctx, 2)
		if err != nil {
			t.Error(err)
		}
		done <- msgs
	}()
	c := push.New(push.Options{URL: srv.URL()})
	for i := range 2 {
		if _, err := c.Send(ctx, []push.Message{{To: fmt.Sprintf("ExponentPushToken[w%d]", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if msgs := <-done; len(msgs) != 2 {
		t.Fatalf("WaitMessages returned %d", len(msgs))
	}

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if _, err := srv.WaitMessages(short, 3); err == nil {
		t.Fatal("WaitMessages returned before the messages came")
	}

	srv.Close()
	if err := srv.Up(); err == nil {
		t.Fatal("Up after Close succeeded")
	}
}
