package server

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"circly"
	"circly/app"

	"github.com/gin-gonic/gin"
)

func (s *Server) listTemplates(c *gin.Context) error {
	p, err := page(c, DefaultLimit)
	if err != nil {
		return err
	}
	category := c.Query("category")
	if category != "" && !slices.Contains(circly.TemplateCategories, category) {
		return invalid("category", "category must be one of %s", strings.Join(circly.TemplateCategories, ", "))
	}
	list, total, err := s.app.ListTemplates(c.Request.Context(), category, p)
	if err != nil {
		return err
	}
	out := make([]templateJSON, len(list))
	for i, t := range list {
		out[i] = templateView(t)
	}
	ok(c, http.StatusOK, listOf("templates", out, total, p))
	return nil
}

func (s *Server) popularTemplates(c *gin.Context) error {
	p, err := page(c, 10)
	if err != nil {
		return err
	}
	p.Offset = 0
	list, _, err := s.app.ListTemplates(c.Request.Context(), "", p)
	if err != nil {
		return err
	}
	out := make([]templateJSON, len(list))
	for i, t := range list {
		out[i] = templateView(t)
		out[i].Rank = i + 1
	}
	ok(c, http.StatusOK, gin.H{"templates": out})
	return nil
}

func (s *Server) getTemplate(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	t, err := s.app.GetTemplate(c.Request.Context(), id)
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, templateView(t))
	return nil
}

// Poll lengths a client may ask for by duration_hours.
var pollDurations = []int{1, 3, 6, 24}

type createPollRequest struct {
	CircleID      *string `json:"circle_id"`
	TemplateID    *string `json:"template_id"`
	DurationHours *int    `json:"duration_hours"`
	Deadline      *string `json:"deadline"`
}

// deadlineOf reads duration_hours or an RFC 3339 deadline (exactly one of them).
func deadlineOf(hours *int, deadline *string, now time.Time) (time.Time, error) {
	switch {
	case hours != nil && deadline != nil:
		return time.Time{}, circly.Errorf(circly.CodeValidation, "send duration_hours or deadline, not both")
	case hours != nil:
		if !slices.Contains(pollDurations, *hours) {
			return time.Time{}, invalid("duration_hours", "duration_hours must be 1, 3, 6 or 24")
		}
		return now.Add(time.Duration(*hours) * time.Hour), nil
	case deadline != nil:
		t, err := time.Parse(time.RFC3339, *deadline)
		if err != nil {
			return time.Time{}, circly.Errorf(circly.CodeInvalidFormat, "deadline must be an RFC 3339 time such as 2026-01-15T10:30:00Z").
				WithDetails(map[string]any{"field": "deadline"})
		}
		return t.UTC(), nil
	default:
		return time.Time{}, missing("duration_hours")
	}
}

func (s *Server) createPoll(c *gin.Context) error {
	var req createPollRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.CircleID == nil {
		return missing("circle_id")
	}
	circleID, err := checkUUID("circle_id", *req.CircleID)
	if err != nil {
		return err
	}
	if req.TemplateID == nil {
		return missing("template_id")
	}
	templateID, err := checkUUID("template_id", *req.TemplateID)
	if err != nil {
		return err
	}
	deadline, err := deadlineOf(req.DurationHours, req.Deadline, s.app.Now())
	if err != nil {
		return err
	}
	poll, err := s.app.CreatePoll(c.Request.Context(), userID(c), circly.CreatePollRequest{CircleID: circleID, TemplateID: templateID, Deadline: deadline})
	if err != nil {
		return err
	}
	ok(c, http.StatusCreated, pollView(poll))
	return nil
}

func (s *Server) listPolls(c *gin.Context) error {
	p, err := page(c, DefaultLimit)
	if err != nil {
		return err
	}
	f := circly.PollFilter{Status: c.DefaultQuery("status", "all")}
	if !slices.Contains([]string{"active", "closed", "all"}, f.Status) {
		return invalid("status", "status must be active, closed or all")
	}
	if v := c.Query("circle_id"); v != "" {
		if f.CircleID, err = checkUUID("circle_id", v); err != nil {
			return err
		}
	}
	polls, total, err := s.app.ListPolls(c.Request.Context(), userID(c), f, p)
	if err != nil {
		return err
	}
	out := make([]pollJSON, len(polls))
	for i, x := range polls {
		out[i] = pollView(x)
	}
	ok(c, http.StatusOK, listOf("polls", out, total, p))
	return nil
}

func (s *Server) getPoll(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	poll, err := s.app.GetPoll(c.Request.Context(), userID(c), id)
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, pollView(poll))
	return nil
}

type updatePollRequest struct {
	Deadline *string `json:"deadline"`
}

func (s *Server) updatePoll(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	var req updatePollRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Deadline == nil {
		return missing("deadline")
	}
	deadline, err := deadlineOf(nil, req.Deadline, s.app.Now())
	if err != nil {
		return err
	}
	poll, err := s.app.UpdatePollDeadline(c.Request.Context(), userID(c), id, deadline)
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, pollView(poll))
	return nil
}

func (s *Server) deletePoll(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.app.DeletePoll(c.Request.Context(), userID(c), id); err != nil {
		return err
	}
	okMessage(c, http.StatusOK, gin.H{"id": id}, "poll deleted")
	return nil
}

type voteRequest struct {
	OptionID *string `json:"option_id"`
}

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 255

func (s *Server) vote(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	var req voteRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.OptionID == nil {
		return missing("option_id")
	}
	optionID, err := checkUUID("option_id", *req.OptionID)
	if err != nil {
		return err
	}
	key := c.GetHeader("Idempotency-Key")
	if len(key) > MaxIdempotencyKey || strings.ContainsFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return circly.Errorf(circly.CodeValidation, "Idempotency-Key must be 1-%d visible ASCII characters", MaxIdempotencyKey)
	}
	res, err := s.app.Vote(c.Request.Context(), userID(c), circly.VoteRequest{PollID: id, OptionID: optionID, IdempotencyKey: key})
	if err != nil {
		return err
	}
	out := voteJSON{PollID: res.PollID, Tally: app.TallyView(res.Tally)}
	if res.Replayed {
		c.Header("Idempotent-Replayed", "true")
	} else {
		at := ts(res.VotedAt)
		out.OptionID, out.VotedAt = &res.OptionID, &at
	}
	ok(c, http.StatusCreated, out)
	return nil
}

func (s *Server) results(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	r, err := s.app.GetResults(c.Request.Context(), userID(c), id)
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, app.ResultsView(r))
	return nil
}
