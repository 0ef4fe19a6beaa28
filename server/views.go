package server

import (
	"time"

	"circly"
	"circly/app"
)

// API shapes. Store types carry no JSON tags; these are converted from them explicitly.

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func tsPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := ts(*t)
	return &s
}

type userJSON struct {
	ID           string  `json:"id"`
	DeviceID     string  `json:"device_id"`
	Platform     string  `json:"platform"`
	AppVersion   *string `json:"app_version"`
	CreatedAt    string  `json:"created_at"`
	LastActiveAt string  `json:"last_active_at"`
	Timezone     string  `json:"timezone"`
}

func userView(u circly.User) userJSON {
	return userJSON{ID: u.ID, DeviceID: u.DeviceID, Platform: u.Platform, AppVersion: u.AppVersion,
		CreatedAt: ts(u.CreatedAt), LastActiveAt: ts(u.LastActiveAt), Timezone: u.Timezone}
}

type circleJSON struct {
	ID              string  `json:"id"`
	Name            string  `json:"name"`
	MemberCount     int     `json:"member_count"`
	MaxMembers      int     `json:"max_members"`
	ActivePolls     int     `json:"active_polls"`
	Role            string  `json:"role"`
	CreatedAt       string  `json:"created_at"`
	InviteCode      *string `json:"invite_code,omitempty"`
	InviteLinkID    *string `json:"invite_link_id,omitempty"`
	InviteLink      *string `json:"invite_link,omitempty"`
	InviteExpiresAt *string `json:"invite_expires_at,omitempty"`
}

// circleView shows the invite to the creator only.
func (s *Server) circleView(c circly.Circle) circleJSON {
	out := circleJSON{ID: c.ID, Name: c.Name, MemberCount: c.MemberCount, MaxMembers: c.MaxMembers,
		ActivePolls: c.ActivePolls, Role: c.Role, CreatedAt: ts(c.CreatedAt)}
	if c.Role == circly.RoleCreator && c.InviteLinkID != nil {
		link := s.cfg.PublicURL + "/join/" + *c.InviteLinkID
		out.InviteCode, out.InviteLinkID, out.InviteLink = c.InviteCode, c.InviteLinkID, &link
		out.InviteExpiresAt = tsPtr(c.InviteExpiresAt)
	}
	return out
}

type memberJSON struct {
	ID       string `json:"id"`
	Nickname string `json:"nickname"`
	Role     string `json:"role"`
	JoinedAt string `json:"joined_at"`
	IsSelf   bool   `json:"is_self"`
}

type circleDetailJSON struct {
	circleJSON
	Members []memberJSON `json:"members"`
}

func (s *Server) circleDetailView(d circly.CircleDetail, viewer string) circleDetailJSON {
	out := circleDetailJSON{circleJSON: s.circleView(d.Circle), Members: make([]memberJSON, len(d.Members))}
	for i, m := range d.Members {
		out.Members[i] = memberJSON{ID: m.ID, Nickname: m.Nickname, Role: m.Role, JoinedAt: ts(m.JoinedAt),
			IsSelf: m.UserID != nil && *m.UserID == viewer}
	}
	return out
}

type membershipJSON struct {
	ID       string `json:"id"`
	CircleID string `json:"circle_id"`
	Nickname string `json:"nickname"`
	Role     string `json:"role"`
	JoinedAt string `json:"joined_at"`
}

func membershipView(m circly.Member) membershipJSON {
	return membershipJSON{ID: m.ID, CircleID: m.CircleID, Nickname: m.Nickname, Role: m.Role, JoinedAt: ts(m.JoinedAt)}
}

type templateJSON struct {
	ID           string `json:"id"`
	Category     string `json:"category"`
	QuestionText string `json:"question_text"`
	UsageCount   int    `json:"usage_count"`
	Rank         int    `json:"rank,omitempty"`
}

func templateView(t circly.Template) templateJSON {
	return templateJSON{ID: t.ID, Category: t.Category, QuestionText: t.QuestionText, UsageCount: t.UsageCount}
}

type optionJSON struct {
	ID             string `json:"id"`
	MemberID       string `json:"member_id"`
	MemberNickname string `json:"member_nickname"`
	DisplayOrder   int    `json:"display_order"`
	IsSelf         bool   `json:"is_self"`
	VoteCount      int    `json:"vote_count"`
}

type pollJSON struct {
	ID              string       `json:"id"`
	CircleID        string       `json:"circle_id"`
	CreatorMemberID string       `json:"creator_member_id"`
	TemplateID      string       `json:"template_id"`
	QuestionText    string       `json:"question_text"`
	Deadline        string       `json:"deadline"`
	CreatedAt       string       `json:"created_at"`
	TotalVotes      int          `json:"total_votes"`
	Version         int          `json:"version"`
	IsClosed        bool         `json:"is_closed"`
	UserVoted       bool         `json:"user_voted"`
	Options         []optionJSON `json:"options,omitempty"`
}

func pollView(p circly.Poll) pollJSON {
	out := pollJSON{ID: p.ID, CircleID: p.CircleID, CreatorMemberID: p.CreatorMemberID, TemplateID: p.TemplateID,
		QuestionText: p.QuestionText, Deadline: ts(p.Deadline), CreatedAt: ts(p.CreatedAt), TotalVotes: p.TotalVotes,
		Version: p.Version, IsClosed: p.IsClosed, UserVoted: p.UserVoted}
	if p.Options != nil {
		out.Options = make([]optionJSON, len(p.Options))
		for i, o := range p.Options {
			out.Options[i] = optionJSON{ID: o.ID, MemberID: o.MemberID, MemberNickname: o.MemberNickname,
				DisplayOrder: o.DisplayOrder, IsSelf: o.IsSelf, VoteCount: o.VoteCount}
		}
	}
	return out
}

// voteJSON answers a vote. On a replay option_id and voted_at are null: the Idempotency-Key
// record keeps neither the choice nor the time.
type voteJSON struct {
	PollID   string        `json:"poll_id"`
	OptionID *string       `json:"option_id"`
	VotedAt  *string       `json:"voted_at"`
	Tally    app.TallyJSON `json:"tally"`
}
