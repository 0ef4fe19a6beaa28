package metrics

import "github.com/prometheus/client_golang/prometheus"

var (
	// RateLimited counts requests refused with 429 RATE_LIMIT_EXCEEDED, by budget name
	// (api, auth, poll_create, upload).
	RateLimited = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_rate_limited_total", Help: "Requests refused by a rate limit, by budget.",
	}, []string{"budget"}))
	// RateLimitErrors counts limiter failures (Redis unreachable or slow); those requests are let through.
	RateLimitErrors = register(prometheus.NewCounter(prometheus.CounterOpts{
		Name: "http_rate_limit_errors_total", Help: "Rate-limit checks that failed (the request was let through).",
	}))
)
