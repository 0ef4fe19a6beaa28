package server

import (
	"circly/ratelimit"

	"github.com/gin-gonic/gin"
)

// AddPanicRoute registers GET path with a handler that panics with v, so tests can check the
// recovery middleware. It exists in test builds only; call it before the server takes requests.
func (s *Server) AddPanicRoute(path string, v any) {
	s.engine.GET(path, s.h(func(*gin.Context) error { panic(v) }))
}

// AddErrorRoute registers GET path with a handler that fails with err (an internal error unless
// err is a *circly.Error), so tests can check what an internal error sends where.
func (s *Server) AddErrorRoute(path string, err error) {
	s.engine.GET(path, s.h(func(*gin.Context) error { return err }))
}

// SetLimiter replaces the rate limiter; call it before the server takes requests.
func (s *Server) SetLimiter(l ratelimit.Limiter) { s.limiter.l = l }

// RouteBudgets lists the routes ("METHOD /pattern") that have a rate limit of their own.
func RouteBudgets() []string {
	out := make([]string, 0, len(routeBudgets))
	for k := range routeBudgets {
		out = append(out, k)
	}
	return out
}

// Routes lists the router's routes.
func (s *Server) Routes() gin.RoutesInfo { return s.engine.Routes() }
