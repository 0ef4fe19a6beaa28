package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"circly"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
)

// MaxBodyBytes is the largest JSON body the API reads.
const MaxBodyBytes = 1 << 20

func itoa(n int) string { return strconv.Itoa(n) }

// decode reads a JSON object strictly: one object, no unknown or repeated fields, within the
// size limit.
func decode(c *gin.Context, dst any) error {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return circly.Errorf(circly.CodePayloadTooLarge, "the request body is larger than %d bytes", tooBig.Limit)
		}
		return circly.Errorf(circly.CodeInvalidFormat, "could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return circly.Errorf(circly.CodeInvalidFormat, "a JSON object body is required")
	}
	if !utf8.Valid(body) {
		return circly.Errorf(circly.CodeInvalidFormat, "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			return circly.Errorf(circly.CodeInvalidFormat, "field %q must be a %s", typeErr.Field, jsonKind(typeErr.Type.String())).
				WithDetails(map[string]any{"field": typeErr.Field})
		case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
			return circly.Errorf(circly.CodeInvalidFormat, "the body is not valid JSON")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return circly.Errorf(circly.CodeValidation, "unknown field %q", field).WithDetails(map[string]any{"field": field})
		default:
			return circly.Errorf(circly.CodeInvalidFormat, "the body must be a JSON object")
		}
	}
	if dec.More() {
		return circly.Errorf(circly.CodeInvalidFormat, "the body must hold exactly one JSON object")
	}
	if key := duplicateKey(body); key != "" {
		return circly.Errorf(circly.CodeValidation, "field %q appears more than once", key).
			WithDetails(map[string]any{"field": key})
	}
	return nil
}

func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "string"):
		return "string"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "number"
	case strings.Contains(goType, "bool"):
		return "boolean"
	default:
		return "JSON object"
	}
}

// missing is the error for an absent required field.
func missing(field string) error {
	return circly.Errorf(circly.CodeMissingField, "%s is required", field).WithDetails(map[string]any{"field": field})
}

// invalid is the error for a field with a bad value.
func invalid(field, format string, args ...any) error {
	e := circly.Errorf(circly.CodeValidation, format, args...)
	return e.WithDetails(map[string]any{"field": field})
}

// textField checks a required or optional text field: trimmed, 1..max characters, printable.
func textField(field string, v *string, required bool, maxLen int) (string, error) {
	if v == nil {
		if required {
			return "", missing(field)
		}
		return "", nil
	}
	s := strings.TrimSpace(*v)
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return "", invalid(field, "%s must not be empty", field)
	}
	if n > maxLen {
		return "", invalid(field, "%s must be at most %d characters", field, maxLen)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && !emojiJoiner(r) {
			return "", invalid(field, "%s must contain printable characters only", field)
		}
	}
	return s, nil
}

// emojiJoiner tells the invisible characters that build emoji (the zero-width joiner and the
// variation selectors) from other non-printing ones, which stay refused.
func emojiJoiner(r rune) bool {
	return r == '\u200d' || (r >= '\ufe00' && r <= '\ufe0f')
}

// uuidParam reads a path parameter that must be a UUID.
func uuidParam(c *gin.Context, name string) (string, error) {
	return checkUUID(name, c.Param(name))
}

func checkUUID(field, v string) (string, error) {
	u, err := uuid.Parse(v)
	if err != nil || len(v) != 36 {
		return "", circly.Errorf(circly.CodeValidation, "%s must be a UUID", field).WithDetails(map[string]any{"field": field})
	}
	return u.String(), nil
}

// Pagination bounds: larger limits are clamped to MaxLimit.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// page reads limit and offset; limit above MaxLimit is clamped, bad values are a 400.
func page(c *gin.Context, defLimit int) (circly.Page, error) {
	p := circly.Page{Limit: defLimit}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, invalid("limit", "limit must be a whole number of at least 1")
		}
		p.Limit = min(n, MaxLimit)
	}
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			return p, invalid("offset", "offset must be a whole number from 0 to 1000000")
		}
		p.Offset = n
	}
	return p, nil
}

// listOf is the shape of every paginated answer.
func listOf(key string, items any, total int64, p circly.Page) gin.H {
	return gin.H{key: items, "total": total, "limit": p.Limit, "offset": p.Offset}
}
