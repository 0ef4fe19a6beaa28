package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
)

// maxReason bounds the length of an error reason taken from a response.
const maxReason = 300

// SendError is a request to Expo that did not succeed: Expo refused it (a 4xx
// other than 429, or a whole-request error in the body), its answer could not
// be used, or the attempts ran out (MaxAttempts, a Retry-After beyond
// MaxBackoff, or ctx). Retryable says whether sending the same request later
// may work; when it is false, resending unchanged will fail again.
type SendError struct {
	Reason    string
	Status    int // last HTTP status; 0 when there was none (network error, canceled)
	Retryable bool
	// RetryAfter is the wait Expo last asked for (429 or 503), if it gave one.
	RetryAfter time.Duration
	// Attempts is how many requests were made.
	Attempts int
	err      error
}

func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("push: ")
	b.WriteString(e.Reason)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (status %d)", e.Status)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

// Unwrap gives the cause when there is one: ctx's error when canceled, the
// network error when the link failed.
func (e *SendError) Unwrap() error { return e.err }

// failLevel is how loud a failed request is: a transient one (Expo down for a
// while, shutdown canceling) is a warning the caller recovers from by trying
// later; a refused one needs a person.
func failLevel(err error) zapcore.Level {
	var se *SendError
	if errors.As(err, &se) && se.Retryable {
		return zapcore.WarnLevel
	}
	return zapcore.ErrorLevel
}

// expoError is one entry of Expo's whole-request "errors" array.
type expoError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// expoDetails carries the per-message or per-receipt error code.
type expoDetails struct {
	Error string `json:"error"`
}

// errorsIn renders Expo's whole-request errors from body, or a short excerpt
// of a body that is not Expo's error shape.
func errorsIn(body []byte) string {
	var env struct {
		Errors []expoError `json:"errors"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Errors) > 0 {
		return describe(env.Errors)
	}
	return clip(scrub(strings.TrimSpace(string(body))))
}

// describe joins whole-request errors into one reason.
func describe(errs []expoError) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		switch {
		case e.Code != "" && e.Message != "":
			parts = append(parts, e.Code+": "+e.Message)
		case e.Code != "":
			parts = append(parts, e.Code)
		default:
			parts = append(parts, e.Message)
		}
	}
	return clip(scrub(strings.Join(parts, "; ")))
}

var tokenPattern = regexp.MustCompile(`Expo(nent)?PushToken\[[^\]]*\]`)

// scrub masks push tokens inside text taken from Expo's answers, so reasons
// can be logged and stored.
func scrub(s string) string {
	return tokenPattern.ReplaceAllStringFunc(s, MaskToken)
}

func clip(s string) string {
	if len(s) <= maxReason {
		return s
	}
	return s[:maxReason] + "…"
}
