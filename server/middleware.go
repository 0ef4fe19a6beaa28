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
	"sync"
	"time"

	"circly/auth"
	"circly/models"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
)

const (
	ctxRequestID = "circly.request_id"
	ctxUserID    = "circly.user_id"
)

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestIDMiddleware keeps a sane incoming X-Request-ID or makes one, and echoes it.
func requestIDMiddleware(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !validRequestID.MatchString(id) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Set(ctxRequestID, id)
	c.Header("X-Request-ID", id)
	c.Next()
}

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

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
		zap.String("request_id", requestID(c)), zap.String("method", c.Request.Method), zap.String("route", route),
		zap.Int("status", status), zap.Duration("latency", time.Since(start)), zap.String("client_ip", c.ClientIP()),
	}
	switch {
	case status >= 500:
		s.log.Warn("request", fields...)
	default:
		s.log.Info("request", fields...)
	}
}

// recovery turns a panic into a 500 INTERNAL_ERROR envelope; the stack goes to the log only.
func (s *Server) recovery(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic", zap.String("request_id", requestID(c)), zap.Any("panic", r),
				zap.ByteString("stack", debug.Stack()))
			if c.Writer.Written() {
				c.Abort()
				return
			}
			s.writeError(c, models.Errorf(models.CodeInternal, "something went wrong on our side; try again"))
		}
	}()
	c.Next()
}

// bodyRules caps request bodies at MaxBodyBytes and requires JSON on requests that carry one.
func (s *Server) bodyRules(c *gin.Context) {
	r := c.Request
	if r.ContentLength > MaxBodyBytes {
		s.writeError(c, models.Errorf(models.CodePayloadTooLarge, "the request body is larger than %d bytes", MaxBodyBytes))
		return
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, MaxBodyBytes)
	hasBody := r.ContentLength > 0 || (r.ContentLength == -1 && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodDelete)
	if hasBody && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			s.writeError(c, models.Errorf(models.CodeUnsupportedMedia, "send the body as application/json"))
			return
		}
	}
	c.Next()
}

// requireAuth checks the Bearer token and that its user still exists.
func (s *Server) requireAuth(c *gin.Context) {
	h := c.GetHeader("Authorization")
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		s.writeError(c, models.Errorf(models.CodeUnauthorized, "send Authorization: Bearer <access_token>"))
		return
	}
	userID, err := s.tokenUser(c.Request.Context(), strings.TrimSpace(token))
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
		return "", models.Errorf(models.CodeTokenExpired, "the access token has expired; refresh it")
	case err != nil:
		return "", models.Errorf(models.CodeInvalidToken, "the access token is invalid")
	}
	alive, err := s.users.alive(ctx, s.store, userID)
	if err != nil {
		return "", err
	}
	if !alive {
		return "", models.Errorf(models.CodeUnauthorized, "this account no longer exists")
	}
	return userID, nil
}

func userID(c *gin.Context) string { return c.GetString(ctxUserID) }

// liveUsers remembers recently seen users, so an authenticated request costs no query in the
// common case; it also rate-limits last_active_at writes to one per user per interval.
type liveUsers struct {
	mu       sync.Mutex
	seen     map[string]time.Time
	interval time.Duration
}

func newLiveUsers(interval time.Duration) *liveUsers {
	return &liveUsers{seen: map[string]time.Time{}, interval: interval}
}

const liveUsersMax = 200_000

func (l *liveUsers) alive(ctx context.Context, store *models.Store, id string) (bool, error) {
	now := time.Now()
	l.mu.Lock()
	t, ok := l.seen[id]
	l.mu.Unlock()
	if ok && now.Sub(t) < l.interval {
		return true, nil
	}
	alive, err := store.TouchUser(ctx, id, l.interval)
	if err != nil || !alive {
		l.forget(id)
		return alive, err
	}
	l.mu.Lock()
	if len(l.seen) >= liveUsersMax {
		l.seen = map[string]time.Time{} // bounded memory: start over rather than grow
	}
	l.seen[id] = now
	l.mu.Unlock()
	return true, nil
}

func (l *liveUsers) forget(id string) {
	l.mu.Lock()
	delete(l.seen, id)
	l.mu.Unlock()
}
