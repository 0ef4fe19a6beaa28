package server

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"circly"
	"circly/config"
	"circly/metrics"
	"circly/ratelimit"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
)

// Fixed budgets of their own, per user, besides the general one. They are on whenever the
// general limit is (RATE_LIMIT_REQUESTS > 0), so load tests turn everything off at once.
const (
	// PollCreatePerMinute bounds bursts of poll creation (the daily limit is POLL_DAILY_LIMIT).
	PollCreatePerMinute = 10
	// UploadsPerMinute bounds image uploads, which cost disk and CPU.
	UploadsPerMinute = 20
)

// limiterTimeout bounds one limiter call, so a slow Redis delays no request by more.
const limiterTimeout = 250 * time.Millisecond

// budget is one rate limit a request may draw from.
type budget struct {
	name string // key prefix, metric label and the word in the 429 message
	// byIP keys the budget by client IP; otherwise by the caller's user id (or their IP when
	// the request carries no valid token).
	byIP  bool
	limit func(config.Config) ratelimit.Limit
}

// generalBudget is RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW on every /v1 request.
var generalBudget = budget{name: "api", limit: func(c config.Config) ratelimit.Limit {
	return ratelimit.Limit{Rate: c.RateLimitRequests, Period: c.RateLimitWindow}
}}

func perUserPerMinute(n int) func(config.Config) ratelimit.Limit {
	return func(c config.Config) ratelimit.Limit {
		if c.RateLimitRequests <= 0 {
			return ratelimit.Limit{}
		}
		return ratelimit.Limit{Rate: n, Period: time.Minute}
	}
}

// routeBudgets are the budgets of particular routes, by method and route pattern
// (c.FullPath()), drawn before the general one. A route added anywhere gets its limit by being
// named here; its registration does not change.
var routeBudgets = map[string]budget{
	"POST /v1/auth/device-login": {name: "auth", byIP: true, limit: func(c config.Config) ratelimit.Limit {
		return ratelimit.Limit{Rate: c.AuthRateLimit, Period: time.Minute}
	}},
	"POST /v1/polls":          {name: "poll_create", limit: perUserPerMinute(PollCreatePerMinute)},
	"POST /v1/uploads/images": {name: "upload", limit: perUserPerMinute(UploadsPerMinute)},
	// Reports can hide a poll or restrict a member: one person must not file them by the dozen.
	"POST /v1/reports": {name: "report", limit: func(c config.Config) ratelimit.Limit {
		return ratelimit.Limit{Rate: c.Reports.RateLimit, Period: time.Hour}
	}},
}

// rateLimiter is the middleware's state.
type rateLimiter struct {
	l           ratelimit.Limiter
	lastWarning atomic.Int64 // unix nanos of the last "limiter failed" warning
}

// rateLimit applies the budgets to /v1 requests and the invite pages (CORS preflights excepted): the route's own,
// then the general one. A refused request gets 429 RATE_LIMIT_EXCEEDED with Retry-After and
// X-RateLimit-*; an allowed one carries X-RateLimit-* of the general budget. When the limiter
// fails (Redis down) the request goes through and a warning is logged: losing the limiter
// must not take the API down.
func (s *Server) rateLimit(c *gin.Context) {
	if !rateLimited(c.Request.URL.Path) || c.Request.Method == "OPTIONS" {
		c.Next()
		return
	}
	budgets := make([]budget, 0, 2)
	if b, ok := routeBudgets[c.Request.Method+" "+c.FullPath()]; ok {
		budgets = append(budgets, b)
	}
	budgets = append(budgets, generalBudget)
	var user string // resolved once, only when a per-user budget needs it
	for _, b := range budgets {
		lim := b.limit(s.cfg)
		if lim.Off() {
			continue
		}
		key := "ip:" + clientIPKey(c)
		if !b.byIP {
			if user == "" {
				user = s.budgetUser(c)
			}
			if user != "-" {
				key = "u:" + user
			}
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), limiterTimeout)
		res, err := s.limiter.l.Allow(ctx, b.name+":"+key, lim)
		cancel()
		if err != nil {
			metrics.RateLimitErrors.Inc()
			s.limiterFailed(c, err)
			continue
		}
		if !res.Allowed {
			metrics.RateLimited.WithLabelValues(b.name).Inc()
			retry := int((res.RetryAfter + time.Second - 1) / time.Second)
			if retry < 1 {
				retry = 1
			}
			s.writeError(c, circly.Errorf(circly.CodeRateLimited, "too many requests; try again in %d s", retry).
				WithDetails(map[string]any{"limit": lim.Rate, "window_seconds": int(lim.Period / time.Second),
					"retry_after_seconds": retry}))
			return
		}
		if b.name == generalBudget.name {
			h := c.Writer.Header()
			h.Set("X-RateLimit-Limit", strconv.Itoa(res.Limit))
			h.Set("X-RateLimit-Remaining", strconv.Itoa(res.Remaining))
			h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(res.ResetAfter).Unix(), 10))
		}
	}
	c.Next()
}

// rateLimited: the API and the invite pages (which read the database) draw from the budgets;
// health, metrics and the embedded static files do not.
func rateLimited(path string) bool {
	return strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/join/")
}

// limiterFailed logs a limiter failure at most once every 10 s per replica.
func (s *Server) limiterFailed(c *gin.Context, err error) {
	now := time.Now().UnixNano()
	last := s.limiter.lastWarning.Load()
	if now-last < int64(10*time.Second) || !s.limiter.lastWarning.CompareAndSwap(last, now) {
		return
	}
	s.logger(c).Warn("rate limiter unavailable: letting requests through", zap.Error(err))
}

// budgetUser is the user id of a valid bearer token, or "-". It checks the signature (a
// forged token must not spend someone else's budget) but not that the account still exists:
// requireAuth does that later.
func (s *Server) budgetUser(c *gin.Context) string {
	token, ok := bearerToken(c)
	if !ok {
		return "-"
	}
	id, err := s.tokens.Verify(token)
	if err != nil || id == "" {
		return "-"
	}
	return id
}

// clientIPKey is the client's address as Gin sees it (X-Forwarded-For is believed only from
// TRUSTED_PROXIES). An IPv6 client is keyed by its /64, since one host usually holds a whole
// /64 and could otherwise take a fresh budget per address.
func clientIPKey(c *gin.Context) string {
	ip := net.ParseIP(c.ClientIP())
	if ip == nil {
		return c.ClientIP()
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}
