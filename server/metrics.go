package server

import (
	"strconv"
	"time"

	"circly/metrics"

	"github.com/gin-gonic/gin"
)

// unmatchedRoute is the route label of requests no route matched (404, 405): the raw path
// never becomes a label, so scanners cannot blow up the series count.
const unmatchedRoute = "unmatched"

// httpMetrics fills http_requests_total and http_request_duration_seconds by route pattern.
func httpMetrics(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = unmatchedRoute
	}
	method := methodLabel(c.Request.Method)
	metrics.HTTPRequests.WithLabelValues(method, route, strconv.Itoa(c.Writer.Status())).Inc()
	metrics.HTTPDuration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
}

// methodLabel keeps the method label to a fixed set: any method a client makes up is "other".
func methodLabel(m string) string {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS":
		return m
	}
	return "other"
}

// initRouteMetrics creates the latency series of every route, so they show in /metrics (at
// zero) before the first request; http_requests_total series appear with their first status.
func initRouteMetrics(r *gin.Engine) {
	for _, rt := range r.Routes() {
		metrics.HTTPDuration.WithLabelValues(methodLabel(rt.Method), rt.Path)
	}
}
