package server

import (
	"regexp"

	"github.com/getsentry/sentry-go"
	"github.com/gin-gonic/gin"
)

// Errors reach Sentry only when cmd/circly has initialized it (SENTRY_DSN set); otherwise the
// current hub has no client and these calls do nothing. An event carries the route pattern,
// the method, the status and the request id: never the request itself (no body, no headers, no
// query, no raw path), so no token or vote choice can leave through it.

// reportPanic sends a recovered panic.
func (s *Server) reportPanic(c *gin.Context, r any) {
	if hub := s.sentryHub(c, 500); hub != nil {
		hub.Recover(r)
	}
}

// reportError sends an internal error (one answered 500 INTERNAL_ERROR).
func (s *Server) reportError(c *gin.Context, err error) {
	if hub := s.sentryHub(c, 500); hub != nil {
		hub.CaptureException(err)
	}
}

func (s *Server) sentryHub(c *gin.Context, status int) *sentry.Hub {
	cur := sentry.GetHubFromContext(c.Request.Context()) // the request's (see tracing): its trace
	if cur == nil {
		cur = sentry.CurrentHub()
	}
	if cur.Client() == nil {
		return nil
	}
	hub := cur.Clone()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	hub.ConfigureScope(func(sc *sentry.Scope) {
		sc.SetTags(map[string]string{"route": route, "method": c.Request.Method, "request_id": requestID(c),
			"status": itoa(status)})
	})
	return hub
}

// ScrubSentryEvent is the BeforeSend (and BeforeSendTransaction) hook cmd/circly installs: a
// second guard that nothing of an HTTP request, a user or a breadcrumb trail is ever sent,
// whichever code captured the event (a handler, a job), and that an error's text loses the ids
// and push tokens it may quote.
func ScrubSentryEvent(e *sentry.Event, _ *sentry.EventHint) *sentry.Event {
	e.Request = nil
	e.User = sentry.User{}
	e.Breadcrumbs = nil
	e.Message = scrubText(e.Message)
	for i := range e.Exception {
		e.Exception[i].Value = scrubText(e.Exception[i].Value)
	}
	return e
}

// personalText is what may point at a person inside an error's text: ids (users, members,
// devices and polls are all UUIDs) and Expo push tokens.
var personalText = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|Expo(nent)?PushToken\[[^\]]*\]`)

func scrubText(s string) string { return personalText.ReplaceAllString(s, "<redacted>") }
