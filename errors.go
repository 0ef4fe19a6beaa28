package circly

import (
	"errors"
	"fmt"
)

// Code is an application error code from the API contract. Only the HTTP layer maps codes
// to statuses; the live protocol's error frames carry the same strings.
type Code string

// Error codes of the contract.
const (
	CodeValidation         Code = "VALIDATION_ERROR"
	CodeMissingField       Code = "MISSING_REQUIRED_FIELD"
	CodeInvalidFormat      Code = "INVALID_FORMAT"
	CodeSelfVote           Code = "SELF_VOTE"
	CodeCircleTooSmall     Code = "CIRCLE_TOO_SMALL"
	CodeUnauthorized       Code = "UNAUTHORIZED"
	CodeInvalidToken       Code = "INVALID_TOKEN"
	CodeTokenExpired       Code = "TOKEN_EXPIRED"
	CodeForbidden          Code = "FORBIDDEN"
	CodeNotCircleMember    Code = "NOT_CIRCLE_MEMBER"
	CodeNotPollCreator     Code = "NOT_POLL_CREATOR"
	CodeNotPollVoter       Code = "NOT_POLL_VOTER"
	CodeNotCircleCreator   Code = "NOT_CIRCLE_CREATOR"
	CodeMemberRestricted   Code = "MEMBER_RESTRICTED"
	CodeNotFound           Code = "NOT_FOUND"
	CodeCircleNotFound     Code = "CIRCLE_NOT_FOUND"
	CodePollNotFound       Code = "POLL_NOT_FOUND"
	CodeTemplateNotFound   Code = "TEMPLATE_NOT_FOUND"
	CodeInviteNotFound     Code = "INVITE_NOT_FOUND"
	CodeAlreadyExists      Code = "ALREADY_EXISTS"
	CodeAlreadyVoted       Code = "ALREADY_VOTED"
	CodeAlreadyMember      Code = "ALREADY_MEMBER"
	CodeCircleFull         Code = "CIRCLE_FULL"
	CodeNicknameTaken      Code = "NICKNAME_TAKEN"
	CodePollClosed         Code = "POLL_CLOSED"
	CodeTooManyActivePolls Code = "TOO_MANY_ACTIVE_POLLS"
	CodePollHasVotes       Code = "POLL_HAS_VOTES"
	CodeInviteExpired      Code = "INVITE_EXPIRED"
	CodePayloadTooLarge    Code = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMedia   Code = "UNSUPPORTED_MEDIA_TYPE"
	CodeRateLimited        Code = "RATE_LIMIT_EXCEEDED"
	CodeTooManyPolls       Code = "TOO_MANY_POLLS"
	CodeInternal           Code = "INTERNAL_ERROR"
	CodeDatabase           Code = "DATABASE_ERROR"
	CodeUnavailable        Code = "SERVICE_UNAVAILABLE"
	CodeMethodNotAllowed   Code = "METHOD_NOT_ALLOWED"
)

// Error is an error the client is meant to see: a code, a message and optional details.
type Error struct {
	Code    Code
	Message string
	Details map[string]any
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is makes errors.Is(err, ErrPollClosed) match any *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Errorf makes a client error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(details map[string]any) *Error {
	c := *e
	c.Details = details
	return &c
}

// Sentinel errors of the domain's rules; compare with errors.Is.
var (
	ErrNotFound           = Errorf(CodeNotFound, "not found")
	ErrCircleNotFound     = Errorf(CodeCircleNotFound, "circle not found")
	ErrPollNotFound       = Errorf(CodePollNotFound, "poll not found")
	ErrTemplateNotFound   = Errorf(CodeTemplateNotFound, "template not found")
	ErrInviteNotFound     = Errorf(CodeInviteNotFound, "no circle has this invite")
	ErrInviteExpired      = Errorf(CodeInviteExpired, "this invite has expired; ask for a new one")
	ErrNotCircleMember    = Errorf(CodeNotCircleMember, "you are not a member of this circle")
	ErrNotCircleCreator   = Errorf(CodeNotCircleCreator, "only the circle's creator can do this")
	ErrNotPollCreator     = Errorf(CodeNotPollCreator, "only the poll's creator can do this")
	ErrAlreadyMember      = Errorf(CodeAlreadyMember, "you are already a member of this circle")
	ErrCircleFull         = Errorf(CodeCircleFull, "the circle is full")
	ErrNicknameTaken      = Errorf(CodeNicknameTaken, "this nickname is taken in the circle")
	ErrCircleTooSmall     = Errorf(CodeCircleTooSmall, "a poll needs a circle of at least 3 members")
	ErrTooManyActivePolls = Errorf(CodeTooManyActivePolls, "the circle already has the most open polls allowed")
	ErrTooManyPolls       = Errorf(CodeTooManyPolls, "you have created the most polls allowed today")
	ErrPollClosed         = Errorf(CodePollClosed, "the poll is closed")
	ErrPollHasVotes       = Errorf(CodePollHasVotes, "the poll already has votes")
	ErrAlreadyVoted       = Errorf(CodeAlreadyVoted, "you have already voted in this poll")
	ErrSelfVote           = Errorf(CodeSelfVote, "you cannot vote for yourself")
	ErrNotPollVoter       = Errorf(CodeNotPollVoter, "you joined the circle after this poll started, so you cannot vote in it")
	// ErrMemberRestricted names no reporter and no count: the member learns only that a review is under way.
	ErrMemberRestricted = Errorf(CodeMemberRestricted, "reports about you in this circle are being reviewed; you cannot create polls in it until then")
	ErrInvalidToken     = Errorf(CodeInvalidToken, "the token is invalid")
	ErrUnauthorized     = Errorf(CodeUnauthorized, "authentication required")
)
