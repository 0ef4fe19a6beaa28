package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"circly"
	"circly/sqlstore"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
)

// statusOf is the one table from application codes to HTTP statuses.
var statusOf = map[circly.Code]int{
	circly.CodeValidation:         http.StatusBadRequest,
	circly.CodeMissingField:       http.StatusBadRequest,
	circly.CodeInvalidFormat:      http.StatusBadRequest,
	circly.CodeSelfVote:           http.StatusBadRequest,
	circly.CodeCircleTooSmall:     http.StatusBadRequest,
	circly.CodeUnauthorized:       http.StatusUnauthorized,
	circly.CodeInvalidToken:       http.StatusUnauthorized,
	circly.CodeTokenExpired:       http.StatusUnauthorized,
	circly.CodeForbidden:          http.StatusForbidden,
	circly.CodeNotCircleMember:    http.StatusForbidden,
	circly.CodeNotPollCreator:     http.StatusForbidden,
	circly.CodeNotPollVoter:       http.StatusForbidden,
	circly.CodeNotCircleCreator:   http.StatusForbidden,
	circly.CodeAccountSanctioned:  http.StatusForbidden,
	circly.CodeAlreadyDecided:     http.StatusConflict,
	circly.CodeMemberRestricted:   http.StatusForbidden,
	circly.CodeNotFound:           http.StatusNotFound,
	circly.CodeCircleNotFound:     http.StatusNotFound,
	circly.CodePollNotFound:       http.StatusNotFound,
	circly.CodeTemplateNotFound:   http.StatusNotFound,
	circly.CodeInviteNotFound:     http.StatusNotFound,
	circly.CodeAlreadyExists:      http.StatusConflict,
	circly.CodeAlreadyVoted:       http.StatusConflict,
	circly.CodeAlreadyMember:      http.StatusConflict,
	circly.CodeCircleFull:         http.StatusConflict,
	circly.CodeNicknameTaken:      http.StatusConflict,
	circly.CodePollClosed:         http.StatusConflict,
	circly.CodeTooManyActivePolls: http.StatusConflict,
	circly.CodePollHasVotes:       http.StatusConflict,
	circly.CodeInviteExpired:      http.StatusGone,
	circly.CodePayloadTooLarge:    http.StatusRequestEntityTooLarge,
	circly.CodeUnsupportedMedia:   http.StatusUnsupportedMediaType,
	circly.CodeRateLimited:        http.StatusTooManyRequests,
	circly.CodeTooManyPolls:       http.StatusTooManyRequests,
	circly.CodeInternal:           http.StatusInternalServerError,
	circly.CodeDatabase:           http.StatusInternalServerError,
	circly.CodeUnavailable:        http.StatusServiceUnavailable,
	circly.CodeMethodNotAllowed:   http.StatusMethodNotAllowed,
}

// StatusOf returns the HTTP status of an application code (500 for an unknown one).
func StatusOf(code circly.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Code    circly.Code    `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

type errorEnvelope struct {
	Success   bool      `json:"success"`
	Error     errorBody `json:"error"`
	Timestamp string    `json:"timestamp"`
}

type successEnvelope struct {
	Success   bool   `json:"success"`
	Data      any    `json:"data"`
	Message   string `json:"message,omitempty"`
	Timestamp string `json:"timestamp"`
}

func nowStamp() string { return time.Now().UTC().Format(time.RFC3339) }

// ok writes a success envelope.
func ok(c *gin.Context, status int, data any) {
	c.JSON(status, successEnvelope{Success: true, Data: data, Timestamp: nowStamp()})
}

// okMessage writes a success envelope with a message.
func okMessage(c *gin.Context, status int, data any, msg string) {
	c.JSON(status, successEnvelope{Success: true, Data: data, Message: msg, Timestamp: nowStamp()})
}

// writeError turns any error into the error envelope. Client errors are logged at debug level;
// everything else is an internal error, logged in full and answered without details.
func (s *Server) writeError(c *gin.Context, err error) {
	var e *circly.Error
	if !errors.As(err, &e) {
		switch {
		case errors.Is(err, context.Canceled):
			s.logger(c).Debug("request canceled")
			e = circly.Errorf(circly.CodeInternal, "something went wrong on our side; try again")
		case sqlstore.Unavailable(err):
			// An outage, not a defect: the client retries, and the operator's alert is the
			// health check and the 503 ratio, not one error line per request.
			s.logger(c).Warn("database unavailable", zap.String("route", c.FullPath()), zap.Error(err))
			e = errDatabaseUnavailable
		default:
			s.logger(c).Error("internal error", zap.String("route", c.FullPath()), zap.Error(err))
			s.reportError(c, err)
			e = circly.Errorf(circly.CodeInternal, "something went wrong on our side; try again")
		}
	}
	status := StatusOf(e.Code)
	if ra, ok := e.Details["retry_after_seconds"].(int); ok {
		c.Header("Retry-After", itoa(ra)) // a 429's quota reset, a 503's outage
	}
	if status == http.StatusTooManyRequests {
		rateLimitHeaders(c, e.Details)
	}
	if isPagePath(c.Request.URL.Path) { // a browser page refused (429, 405, ...): HTML, not JSON
		if err := s.pages.Problem(c.Writer, status); err != nil {
			s.logger(c).Error("page error", zap.Error(err))
		}
		c.Abort()
		return
	}
	c.AbortWithStatusJSON(status, errorEnvelope{
		Success:   false,
		Error:     errorBody{Code: e.Code, Message: e.Message, Details: e.Details},
		Timestamp: nowStamp(),
	})
}

// DatabaseRetryAfter is the Retry-After of a 503 answered while the database is unreachable: long
// enough that a fleet of phones does not hammer a recovering server, short enough that a
// restart of PostgreSQL (seconds) is over by the first retry.
const DatabaseRetryAfter = 5

var errDatabaseUnavailable = circly.Errorf(circly.CodeUnavailable,
	"the service cannot reach its database; try again in a few seconds").WithDetails(map[string]any{
	"reason": "database_unavailable", "retry_after_seconds": DatabaseRetryAfter,
})

// handler is a gin handler that returns an error instead of writing one.
type handler func(c *gin.Context) error

// h adapts a handler to gin, writing the error envelope when it fails.
func (s *Server) h(fn handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := fn(c); err != nil {
			s.writeError(c, err)
		}
	}
}

// rateLimitHeaders sets the X-RateLimit-* headers every 429 carries (API.md; writeError sets
// its Retry-After), from the error's details: limit (the quota) and retry_after_seconds (when
// it resets). X-RateLimit-Reset is the Unix time, in seconds, at which the quota is available
// again.
func rateLimitHeaders(c *gin.Context, details map[string]any) {
	ra, hasRetry := details["retry_after_seconds"].(int)
	if limit, ok := details["limit"].(int); ok {
		c.Header("X-RateLimit-Limit", itoa(limit))
		c.Header("X-RateLimit-Remaining", "0")
		if hasRetry {
			c.Header("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Duration(ra)*time.Second).Unix(), 10))
		}
	}
}
