package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"circly"
	"circly/auth"

	"github.com/gin-gonic/gin"
)

// The admin API: moderators review reports under /v1/admin, with operator tokens only
// (`circly admin token`). A user token never opens it, and an operator token opens nothing
// else (auth/operators.go).

// Admin is what the admin API asks of the layer below (app.Service implements it).
type Admin interface {
	OperatorTokenActive(ctx context.Context, id string) (bool, error)
	ReportQueue(ctx context.Context, page circly.Page) ([]circly.ReportedTarget, int64, error)
	TargetContent(ctx context.Context, typ, id string) (circly.TargetContent, error)
	Decide(ctx context.Context, d circly.Decision) (circly.DecisionResult, error)
	AuditLog(ctx context.Context, page circly.Page) ([]circly.AuditEntry, int64, error)
}

const ctxOperator = "circly.operator"

// MaxDecisionReason bounds a decision's reason, in characters (the audit log's column).
const MaxDecisionReason = 500

func (s *Server) adminRoutes(v1 *gin.RouterGroup) {
	g := v1.Group("/admin", s.requireOperator)
	g.GET("/reports", s.h(s.adminQueue))
	g.GET("/targets/:type/:id", s.h(s.adminTarget))
	g.POST("/targets/:type/:id/decision", s.h(s.adminDecide))
	g.GET("/audit", s.h(s.adminAudit))
}

// requireOperator lets through only a valid, unexpired, unrevoked operator token.
func (s *Server) requireOperator(c *gin.Context) {
	token, ok := bearerToken(c)
	if !ok {
		s.writeError(c, circly.Errorf(circly.CodeUnauthorized, "send Authorization: Bearer <operator token> (circly admin token)"))
		return
	}
	if s.admin == nil {
		s.writeError(c, circly.Errorf(circly.CodeUnavailable, "the admin API is not configured on this replica"))
		return
	}
	operator, id, err := s.operators.Verify(token)
	switch {
	case errors.Is(err, auth.ErrExpired):
		s.writeError(c, circly.Errorf(circly.CodeTokenExpired, "the operator token has expired; issue a new one"))
		return
	case err != nil:
		s.writeError(c, circly.Errorf(circly.CodeInvalidToken, "not an operator token"))
		return
	}
	active, err := s.admin.OperatorTokenActive(c.Request.Context(), id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if !active {
		s.writeError(c, circly.Errorf(circly.CodeInvalidToken, "this operator token was revoked or never issued here"))
		return
	}
	c.Set(ctxOperator, operator)
	c.Next()
}

type reportedTargetJSON struct {
	TargetType      string   `json:"target_type"`
	TargetID        string   `json:"target_id"`
	ReportCount     int      `json:"report_count"`
	ReporterCount   int      `json:"reporter_count"`
	Reasons         []string `json:"reasons"`
	FirstReportedAt string   `json:"first_reported_at"`
	LastReportedAt  string   `json:"last_reported_at"`
	Hidden          bool     `json:"hidden"`
}

// adminQueue lists the targets with pending reports, the longest-waiting first.
func (s *Server) adminQueue(c *gin.Context) error {
	p, err := page(c, DefaultLimit)
	if err != nil {
		return err
	}
	list, total, err := s.admin.ReportQueue(c.Request.Context(), p)
	if err != nil {
		return err
	}
	out := make([]reportedTargetJSON, len(list))
	for i, t := range list {
		out[i] = reportedTargetJSON{TargetType: t.TargetType, TargetID: t.TargetID, ReportCount: t.Reports, ReporterCount: t.Reporters,
			Reasons: t.Reasons, FirstReportedAt: ts(t.FirstReported), LastReportedAt: ts(t.LastReported), Hidden: t.Hidden}
	}
	ok(c, http.StatusOK, listOf("targets", out, total, p))
	return nil
}

type targetReportJSON struct {
	Reason      string  `json:"reason"`
	Description *string `json:"description"`
	CreatedAt   string  `json:"created_at"`
}

type targetContentJSON struct {
	TargetType      string             `json:"target_type"`
	TargetID        string             `json:"target_id"`
	Exists          bool               `json:"exists"`
	CircleID        string             `json:"circle_id,omitempty"`
	CircleName      string             `json:"circle_name,omitempty"`
	QuestionText    *string            `json:"question_text,omitempty"`
	IsClosed        *bool              `json:"is_closed,omitempty"`
	HiddenAt        *string            `json:"hidden_at,omitempty"`
	Nickname        *string            `json:"nickname,omitempty"`
	Left            *bool              `json:"left,omitempty"`
	RestrictedAt    *string            `json:"restricted_at,omitempty"`
	Sanctions       *int               `json:"sanctions,omitempty"`
	SanctionedUntil *string            `json:"sanctioned_until,omitempty"`
	MemberCount     *int               `json:"member_count,omitempty"`
	Reports         []targetReportJSON `json:"reports"`
}

// target reads and checks the :type and :id of an admin path.
func target(c *gin.Context) (typ, id string, err error) {
	typ = c.Param("type")
	if typ, err = oneOf("type", &typ, circly.ReportTypes); err != nil {
		return "", "", err
	}
	id, err = uuidParam(c, "id")
	return typ, id, err
}

// adminTarget shows what was reported: its words and its pending reports, never who reported.
func (s *Server) adminTarget(c *gin.Context) error {
	typ, id, err := target(c)
	if err != nil {
		return err
	}
	t, err := s.admin.TargetContent(c.Request.Context(), typ, id)
	if err != nil {
		return err
	}
	out := targetContentJSON{TargetType: t.TargetType, TargetID: t.TargetID, Exists: t.Exists, CircleID: t.CircleID,
		CircleName: t.CircleName, Reports: make([]targetReportJSON, len(t.Reports))}
	if t.Exists {
		switch typ {
		case "poll":
			out.QuestionText, out.IsClosed, out.HiddenAt = &t.QuestionText, &t.PollClosed, tsPtr(t.HiddenAt)
		case "user":
			out.Nickname, out.Left, out.RestrictedAt = &t.Nickname, &t.Left, tsPtr(t.RestrictedAt)
			out.Sanctions, out.SanctionedUntil = &t.Sanctions, tsPtr(t.ActiveUntil)
		case "circle":
			out.MemberCount = &t.MemberCount
		}
	}
	for i, r := range t.Reports {
		out.Reports[i] = targetReportJSON{Reason: r.Reason, Description: r.Description, CreatedAt: ts(r.CreatedAt)}
	}
	ok(c, http.StatusOK, out)
	return nil
}

type decisionRequest struct {
	Decision   *string `json:"decision"`
	Reason     *string `json:"reason"`
	DeletePoll *bool   `json:"delete_poll"`
}

type sanctionJSON struct {
	Rung    int     `json:"rung"`
	Step    string  `json:"step"`
	Until   *string `json:"until"`
	Removed bool    `json:"removed"`
}

type decisionJSON struct {
	DecisionID        string        `json:"decision_id"`
	Decision          string        `json:"decision"`
	TargetType        string        `json:"target_type"`
	TargetID          string        `json:"target_id"`
	Reports           int           `json:"reports"`
	PollHidden        bool          `json:"poll_hidden"`
	PollRestored      bool          `json:"poll_restored"`
	PollDeleted       bool          `json:"poll_deleted"`
	RestrictionLifted bool          `json:"restriction_lifted"`
	Sanction          *sanctionJSON `json:"sanction"`
}

// adminDecide dismisses or upholds every pending report of a target. A reason is required;
// the decision and its audit row are one transaction.
func (s *Server) adminDecide(c *gin.Context) error {
	typ, id, err := target(c)
	if err != nil {
		return err
	}
	var req decisionRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	decision, err := oneOf("decision", req.Decision, circly.Decisions)
	if err != nil {
		return err
	}
	if req.Reason == nil {
		return invalid("reason", "reason is required: every operator action says why")
	}
	reason, err := textField("reason", req.Reason, true, MaxDecisionReason)
	if err != nil {
		return err
	}
	del := req.DeletePoll != nil && *req.DeletePoll
	if del && (typ != "poll" || decision != circly.DecisionUphold) {
		return invalid("delete_poll", "delete_poll goes only with an uphold on a poll")
	}
	r, err := s.admin.Decide(c.Request.Context(), circly.Decision{Operator: c.GetString(ctxOperator), TargetType: typ, TargetID: id,
		Action: decision, Reason: reason, DeletePoll: del})
	if err != nil {
		return err
	}
	out := decisionJSON{DecisionID: r.AuditID, Decision: decision, TargetType: typ, TargetID: id, Reports: r.Reports,
		PollHidden: r.PollHidden, PollRestored: r.PollShown, PollDeleted: r.PollDeleted, RestrictionLifted: r.Restricted}
	if r.Sanction != nil && r.Sanction.Step.Remove {
		// The ladder's last rung deleted the account, as DELETE /v1/users/me does: its files too.
		s.deleteFiles(c.Request.Context(), r.RemovedUploads)
		s.users.forget(r.Sanction.UserID)
	}
	if r.Sanction != nil {
		out.Sanction = &sanctionJSON{Rung: r.Sanction.Rung, Step: r.Sanction.Step.String(), Until: tsPtr(r.Sanction.Until), Removed: r.Sanction.Step.Remove}
	}
	ok(c, http.StatusOK, out)
	return nil
}

type auditJSON struct {
	ID         string          `json:"id"`
	Operator   string          `json:"operator"`
	Action     string          `json:"action"`
	TargetType *string         `json:"target_type"`
	TargetID   *string         `json:"target_id"`
	Reason     string          `json:"reason"`
	Details    json.RawMessage `json:"details"`
	CreatedAt  string          `json:"created_at"`
}

// adminAudit lists the audit log, newest first.
func (s *Server) adminAudit(c *gin.Context) error {
	p, err := page(c, DefaultLimit)
	if err != nil {
		return err
	}
	list, total, err := s.admin.AuditLog(c.Request.Context(), p)
	if err != nil {
		return err
	}
	out := make([]auditJSON, len(list))
	for i, e := range list {
		out[i] = auditJSON{ID: e.ID, Operator: e.Operator, Action: e.Action, TargetType: optional(e.TargetType),
			TargetID: optional(e.TargetID), Reason: e.Reason, Details: json.RawMessage(e.Details), CreatedAt: ts(e.CreatedAt)}
		if !json.Valid(out[i].Details) {
			out[i].Details = json.RawMessage(`{}`)
		}
	}
	ok(c, http.StatusOK, listOf("entries", out, total, p))
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
