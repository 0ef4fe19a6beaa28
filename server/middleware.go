package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"mime"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"circly"
	"circly/auth"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"
)

const (
	ctxRequestID = "circly.request_id"
	ctxUserID    = "circly.user_id"
	ctxLogger    = "circly.logger"
)

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestIDMiddleware keeps a sane incoming X-Request-ID or makes one, echoes it, and puts a
// logger carrying it in the context (see logger).
func (s *Server) requestIDMiddleware(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !validRequestID.MatchString(id) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Set(ctxRequestID, id)
	c.Set(ctxLogger, s.log.With(zap.String("request_id", id)))
	c.Header("X-Request-ID", id)
	c.Next()
}

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// logger is the request's logger: every line it writes carries the request id. Handlers log
// through it, never through s.log.
func (s *Server) logger(c *gin.Context) *zap.Logger {
	if l, ok := c.Value(ctxLogger).(*zap.Logger); ok {
		return l
	}
	return s.log
}

// accessLog writes one line per request. It logs the route pattern, never the raw path,
// query or body, so no line holds a token or a vote's option.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	fields := []zap.Field{
		zap.String("method", c.Request.Method), zap.String("route", route),
		zap.Int("status", status), zap.Duration("latency", time.Since(start)), zap.String("client_ip", c.ClientIP()),
	}
	switch {
	case status >= 500:
		s.logger(c).Warn("request", fields...)
	default:
		s.logger(c).Info("request", fields...)
	}
}

// recovery turns a panic into a 500 INTERNAL_ERROR envelope; the stack goes to the log only.
func (s *Server) recovery(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.logger(c).Error("panic", zap.String("route", c.FullPath()), zap.Any("panic", r),
				zap.ByteString("stack", debug.Stack()))
			s.reportPanic(c, r)
			if c.Writer.Written() {
				c.Abort()
				return
			}
			s.writeError(c, circly.Errorf(circly.CodeInternal, "something went wrong on our side; try again"))
		}
	}()
	c.Next()
}

// bodyRules caps request bodies at MaxBodyBytes and requires JSON on requests that carry one.
func (s *Server) bodyRules(c *gin.Context) {
	if c.FullPath() == uploadRoute {
		s.uploadBodyRules(c) // multipart and up to MAX_FILE_SIZE: handlers_uploads.go
		return
	}
	r := c.Request
	if r.ContentLength > MaxBodyBytes {
		s.writeError(c, circly.Errorf(circly.CodePayloadTooLarge, "the request body is larger than %d bytes", MaxBodyBytes))
		return
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, MaxBodyBytes)
	hasBody := r.ContentLength > 0 || (r.ContentLength == -1 && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodDelete)
	if hasBody && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			s.writeError(c, circly.Errorf(circly.CodeUnsupportedMedia, "send the body as application/json"))
			return
		}
	}
	c.Next()
}

// bearerToken is the token of an `Authorization: Bearer <token>` header (scheme matched
// case-insensitively), ok false when the header is missing, of another scheme or empty.
func bearerToken(c *gin.Context) (string, bool) {
	scheme, token, found := strings.Cut(c.GetHeader("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, found && strings.EqualFold(scheme, "Bearer") && token != ""
}

// errNoBearer answers a request whose Authorization header is not a usable Bearer token.
func errNoBearer() error {
	return circly.Errorf(circly.CodeUnauthorized, "send Authorization: Bearer <access_token>")
}

// requireAuth checks the Bearer token and that its user still exists.
func (s *Server) requireAuth(c *gin.Context) {
	token, ok := bearerToken(c)
	if !ok {
		s.writeError(c, errNoBearer())
		return
	}
	userID, err := s.tokenUser(c.Request.Context(), token)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Set(ctxUserID, userID)
	c.Next()
}

// tokenUser checks an access token and that its user still exists (REST and WebSocket auth).
func (s *Server) tokenUser(ctx context.Context, token string) (string, error) {
	userID, err := s.tokens.Verify(token)
	switch {
	case errors.Is(err, auth.ErrExpired):
		return "", circly.Errorf(circly.CodeTokenExpired, "the access token has expired; refresh it")
	case err != nil || uuid.Validate(userID) != nil: // a subject that is no user id never reaches SQL
		return "", circly.Errorf(circly.CodeInvalidToken, "the access token is invalid")
	}
	if s.revoked.Has(userID, time.Now()) {
		return "", errAccountGone() // deleted through another replica, which told every hub
	}
	alive, err := s.users.alive(ctx, userID)
	if err != nil {
		return "", err
	}
	if !alive {
		return "", errAccountGone()
	}
	return userID, nil
}

func errAccountGone() error {
	return circly.Errorf(circly.CodeUnauthorized, "this account no longer exists")
}

func userID(c *gin.Context) string { return c.GetString(ctxUserID) }
