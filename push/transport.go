package push

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"circly/metrics"
)

const (
	// gzipAbove is the body size from which requests are compressed; smaller
	// bodies gain nothing worth the CPU.
	gzipAbove = 1024
	// maxResponse bounds what is read from Expo: 1000 receipts are ~200 KiB.
	maxResponse = 8 << 20
)

// call describes one logical request: where, what, and how many push messages
// it carries (for the retry metric; 0 for receipt reads).
type call struct {
	what     string // "send" or "receipts", for logs and reasons
	url      string
	payload  any
	messages int
}

// post makes c's request, retrying transient failures, and returns the body
// of the first 2xx answer.
func (c *Client) post(ctx context.Context, cl call) ([]byte, error) {
	body, gzipped, err := encode(cl.payload)
	if err != nil {
		return nil, &SendError{Reason: "encode " + cl.what + " request: " + err.Error(), err: err}
	}
	for attempt := 1; ; attempt++ {
		res, err := c.once(ctx, cl.url, body, gzipped)
		if err == nil && res.status >= 200 && res.status < 300 {
			return res.body, nil
		}
		fail := classify(ctx, cl.what, res, err)
		fail.Attempts = attempt
		if !fail.Retryable || ctx.Err() != nil {
			return nil, fail
		}
		if attempt >= c.maxAttempts {
			return nil, fail
		}
		wait := c.backoff(attempt)
		if res.retryAfter > 0 {
			if res.retryAfter > c.max {
				fail.Reason += fmt.Sprintf("; Expo asks to wait %s, longer than the backoff cap", res.retryAfter)
				return nil, fail
			}
			wait = max(wait, res.retryAfter)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			fail.Reason += "; no time left to retry"
			return nil, fail
		}
		if cl.messages > 0 {
			metrics.PushSent.WithLabelValues("retry").Add(float64(cl.messages))
		}
		c.log.Warn("expo request failed, retrying",
			zap.String("request", cl.what), zap.Int("attempt", attempt), zap.Int("status", fail.Status),
			zap.String("reason", fail.Reason), zap.Duration("wait", wait), zap.Int("messages", cl.messages))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &SendError{
				Reason: fmt.Sprintf("%s request abandoned: %v (last failure: %s)", cl.what, ctx.Err(), fail.Reason),
				Status: fail.Status, Retryable: true, RetryAfter: fail.RetryAfter, Attempts: attempt, err: ctx.Err(),
			}
		case <-t.C:
		}
	}
}

// response is what one attempt got back.
type response struct {
	status     int
	body       []byte
	retryAfter time.Duration
}

// once makes a single attempt. A non-nil error means no usable HTTP answer.
func (c *Client) once(ctx context.Context, u string, body []byte, gzipped bool) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return response{}, &SendError{Reason: "build request: " + err.Error(), err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	// Set by hand, so the transport leaves decompression to read().
	req.Header.Set("Accept-Encoding", "gzip")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	res := response{status: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	res.body, err = read(resp)
	if err != nil {
		return res, err
	}
	return res, nil
}

// encode marshals payload, gzipping it when that is worth it.
func encode(payload any) ([]byte, bool, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, false, err
	}
	if len(raw) <= gzipAbove {
		return raw, false, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, false, err
	}
	if err := zw.Close(); err != nil {
		return nil, false, err
	}
	return buf.Bytes(), true, nil
}

// read returns the response body, gunzipped when Expo compressed it, refusing
// bodies beyond maxResponse.
func read(resp *http.Response) ([]byte, error) {
	var r io.Reader = resp.Body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("read gzip response: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	b, err := io.ReadAll(io.LimitReader(r, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if len(b) > maxResponse {
		return nil, fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	return b, nil
}

// classify turns a failed attempt into a SendError saying whether to retry.
func classify(ctx context.Context, what string, res response, err error) *SendError {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &SendError{Reason: fmt.Sprintf("%s request abandoned: %v", what, ctxErr), Status: res.status, Retryable: true, err: ctxErr}
	}
	var se *SendError
	if errors.As(err, &se) {
		return se // could not even build the request
	}
	if err != nil {
		// No answer, or a truncated one: the link or Expo's edge failed.
		return &SendError{Reason: fmt.Sprintf("%s request failed: %s", what, scrub(err.Error())), Status: res.status, Retryable: true, err: err}
	}
	reason := fmt.Sprintf("%s request answered %d", what, res.status)
	if detail := errorsIn(res.body); detail != "" {
		reason += ": " + detail
	}
	switch {
	case res.status == http.StatusTooManyRequests:
		return &SendError{Reason: reason, Status: res.status, Retryable: true, RetryAfter: res.retryAfter}
	case res.status >= 500:
		return &SendError{Reason: reason, Status: res.status, Retryable: true, RetryAfter: res.retryAfter}
	default:
		// 4xx: the request itself is wrong (bad token, too many messages,
		// invalid payload); sending it again changes nothing.
		return &SendError{Reason: reason, Status: res.status}
	}
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is the full-jitter wait before retry n (n ≥ 1): uniform in
// [0, min(max, base·2^(n-1))), so many replicas retrying at once spread out.
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.max
	if n-1 < 32 {
		if d := c.base << (n - 1); d > 0 && d < ceiling {
			ceiling = d
		}
	}
	return rand.N(ceiling)
}
