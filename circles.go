package circly

import "time"

// InviteAlphabet has no letters that read alike (no I, O, 0 or 1).
const InviteAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// InviteCodeLength is the length of an invite code.
const InviteCodeLength = 6

// InvitePreview is what anyone holding an invite link may see of its circle before joining:
// no member names, no ids beyond the link's own.
type InvitePreview struct {
	CircleName  string
	MemberCount int
	MaxMembers  int
}

// Full reports whether a join would be refused for want of room.
func (p InvitePreview) Full() bool { return p.MemberCount >= p.MaxMembers }

// Circle is a group of friends, as one member sees it.
type Circle struct {
	ID              string
	Name            string
	MaxMembers      int
	MemberCount     int
	ActivePolls     int
	Role            string // the viewer's role
	InviteCode      *string
	InviteLinkID    *string
	InviteExpiresAt *time.Time
	CreatedAt       time.Time
}

// Member is one membership of a circle.
type Member struct {
	ID       string
	CircleID string
	UserID   *string
	Nickname string
	Role     string
	JoinedAt time.Time
}

// CircleDetail is a circle with its current members.
type CircleDetail struct {
	Circle
	Members []Member
}

// CircleUpdate holds the fields PUT /v1/circles/{id} may change; nil means unchanged.
type CircleUpdate struct {
	Name       *string
	MaxMembers *int
}

// JoinRequest names the invite (one of code or link) and the nickname to join with.
type JoinRequest struct {
	InviteCode   string
	InviteLinkID string
	Nickname     string
}

// CircleLive is the snapshot of a circle channel.
type CircleLive struct {
	CircleID    string
	MemberCount int
	OpenPollIDs []string
}

// Member roles.
const (
	RoleCreator = "creator"
	RoleMember  = "member"
)
