package server

import (
	"strconv"

	"github.com/getsentry/sentry-go"
	"github.com/gin-gonic/gin"
)

// untracedRoutes get no transaction: health checks and metrics scrapes come every few seconds
// and say nothing about users' requests, and a live connection's transaction would last as long
// as the connection (hours).
var untracedRoutes = map[string]bool{
	"/health": true, "/health/detailed": true, "/metrics": true,
	"/v1/ws": true, "/v1/polls/:id/live": true,
}

// tracing gives each request a Sentry hub of its own (so an error it reports carries its trace)
// and, when the request is sampled (SENTRY_TRACES_SAMPLE_RATE), a transaction named by method
// and route pattern, "GET /v1/polls/:id", never by the raw path with its ids. Requests no route
// matched (scanners) are not traced, nor any at SENTRY_TRACES_SAMPLE_RATE=0. Incoming
// sentry-trace headers are ignored on purpose: a client cannot make its requests sampled.
func tracing(c *gin.Context) {
	parent := sentry.CurrentHub()
	client := parent.Client()
	if client == nil { // Sentry is off
		c.Next()
		return
	}
	ctx := sentry.SetHubOnContext(c.Request.Context(), parent.Clone())
	route := c.FullPath()
	if route == "" || untracedRoutes[route] || !client.Options().EnableTracing {
		c.Request = c.Request.WithContext(ctx)
		c.Next()
		return
	}
	tx := sentry.StartTransaction(ctx, c.Request.Method+" "+route,
		sentry.WithOpName("http.server"), sentry.WithTransactionSource(sentry.SourceRoute))
	c.Request = c.Request.WithContext(tx.Context())
	c.Next()
	status := c.Writer.Status()
	tx.Status = sentry.HTTPtoSpanStatus(status)
	tx.SetData("http.response.status_code", status)
	tx.SetTag("http.status_code", strconv.Itoa(status))
	tx.SetTag("request_id", requestID(c))
	tx.Finish()
}
