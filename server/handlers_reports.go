package server

import (
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"circly"

	"github.com/gin-gonic/gin"
)

// MaxReportDescription bounds a report's free text, in characters.
const MaxReportDescription = 1000

type createReportRequest struct {
	Type        *string `json:"type"`
	TargetID    *string `json:"target_id"`
	Reason      *string `json:"reason"`
	Description *string `json:"description"`
}

type reportJSON struct {
	ID          string  `json:"id"`
	Type        string  `json:"type"`
	TargetID    string  `json:"target_id"`
	Reason      string  `json:"reason"`
	Description *string `json:"description"`
	Status      string  `json:"status"`
	CreatedAt   string  `json:"created_at"`
}

func reportView(r circly.Report) reportJSON {
	return reportJSON{ID: r.ID, Type: r.Type, TargetID: r.TargetID, Reason: r.Reason, Description: r.Description,
		Status: r.Status, CreatedAt: ts(r.CreatedAt)}
}

// oneOf checks a required field against its allowed values.
func oneOf(field string, v *string, allowed []string) (string, error) {
	if v == nil {
		return "", missing(field)
	}
	if !slices.Contains(allowed, *v) {
		return "", circly.Errorf(circly.CodeValidation, "%s must be one of %s", field, strings.Join(allowed, ", ")).
			WithDetails(map[string]any{"field": field, "allowed": allowed})
	}
	return *v, nil
}

// description checks free text: trimmed, at most MaxReportDescription characters, printable
// or line breaks and tabs. Blank counts as absent.
func description(v *string) (*string, error) {
	if v == nil {
		return nil, nil
	}
	s := strings.TrimSpace(*v)
	if s == "" {
		return nil, nil
	}
	if utf8.RuneCountInString(s) > MaxReportDescription {
		return nil, invalid("description", "description must be at most %d characters", MaxReportDescription)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && !emojiJoiner(r) && r != '\n' && r != '\r' && r != '\t' {
			return nil, invalid("description", "description must contain printable characters only")
		}
	}
	return &s, nil
}

func (s *Server) createReport(c *gin.Context) error {
	var req createReportRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	typ, err := oneOf("type", req.Type, circly.ReportTypes)
	if err != nil {
		return err
	}
	if req.TargetID == nil {
		return missing("target_id")
	}
	target, err := checkUUID("target_id", *req.TargetID)
	if err != nil {
		return err
	}
	reason, err := oneOf("reason", req.Reason, circly.ReportReasons)
	if err != nil {
		return err
	}
	desc, err := description(req.Description)
	if err != nil {
		return err
	}
	r, err := s.app.CreateReport(c.Request.Context(), userID(c), circly.NewReport{Type: typ, TargetID: target, Reason: reason, Description: desc})
	if err != nil {
		return err
	}
	ok(c, http.StatusCreated, reportView(r))
	return nil
}

// myReports lists the caller's reports, newest first, paginated like every list.
func (s *Server) myReports(c *gin.Context) error {
	p, err := page(c, DefaultLimit)
	if err != nil {
		return err
	}
	list, total, err := s.app.ListReports(c.Request.Context(), userID(c), p)
	if err != nil {
		return err
	}
	out := make([]reportJSON, len(list))
	for i, r := range list {
		out[i] = reportView(r)
	}
	ok(c, http.StatusOK, listOf("reports", out, total, p))
	return nil
}
