package server

import "github.com/gin-gonic/gin"

// AddPanicRoute registers GET path with a handler that panics with v, so tests can check the
// recovery middleware. It exists in test builds only; call it before the server takes requests.
func (s *Server) AddPanicRoute(path string, v any) {
	s.engine.GET(path, s.h(func(*gin.Context) error { panic(v) }))
}
