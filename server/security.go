package server

import (
	"net/http"
	"strings"

	"circly"
	"circly/config"

	"github.com/gin-gonic/gin"
)

// apiCSP forbids a browser to load or frame anything on the strength of an API answer. A
// handler that serves a page for browsers sets its own Content-Security-Policy.
const apiCSP = "default-src 'none'; frame-ancestors 'none'"

// securityHeaders sets the headers every answer carries. HSTS is left out in development,
// where the service runs on plain http://localhost.
func securityHeaders(env string) gin.HandlerFunc {
	hsts := env != config.EnvDevelopment
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", apiCSP)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		c.Next()
	}
}

// CORS answers. The API authenticates with a bearer token, never a cookie, so it never sends
// Access-Control-Allow-Credentials: a browser sends the Authorization header because it is
// listed in Access-Control-Allow-Headers.
const (
	corsAllowMethods  = "GET, POST, PUT, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
	corsExposeHeaders = "X-Request-ID, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Idempotent-Replayed"
	corsMaxAge        = "600"
)

// cors lets the configured browser origins (CORS_ALLOWED_ORIGINS; "*" for any) call the API.
// With none configured it does nothing: browsers then keep to the same origin. Answers to a
// request with an Origin carry Vary: Origin, so a cache never hands one origin's answer to
// another. A preflight from an allowed origin is answered 204 here; from another origin 403.
func (s *Server) cors(origins []string) gin.HandlerFunc {
	allowed := map[string]bool{}
	anyOrigin := false
	for _, o := range origins {
		if o == "*" {
			anyOrigin = true
		}
		allowed[o] = true
	}
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if len(origins) == 0 || origin == "" {
			c.Next()
			return
		}
		h := c.Writer.Header()
		h.Add("Vary", "Origin")
		ok := anyOrigin || allowed[strings.ToLower(origin)]
		preflight := c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != ""
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !ok {
				s.writeError(c, circly.Errorf(circly.CodeForbidden, "origin %q is not allowed", origin))
				return
			}
			h.Set("Access-Control-Allow-Origin", allowOrigin(anyOrigin, origin))
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		if ok {
			h.Set("Access-Control-Allow-Origin", allowOrigin(anyOrigin, origin))
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		c.Next()
	}
}

func allowOrigin(anyOrigin bool, origin string) string {
	if anyOrigin {
		return "*"
	}
	return origin
}
