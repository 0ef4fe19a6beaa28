package circly

import "time"

// User is an account, one per device.
type User struct {
	ID           string
	DeviceID     string
	Platform     string
	AppVersion   *string
	Timezone     string
	CreatedAt    time.Time
	LastActiveAt time.Time
}

// UserUpdate holds the fields PUT /v1/users/me may change; nil means unchanged.
type UserUpdate struct {
	PushToken *string
	Timezone  *string
}

// EndedMembership is a membership that DeleteUser ended.
type EndedMembership struct {
	CircleID      string
	MemberID      string
	Nickname      string
	CircleDeleted bool // the user was its last member, so the circle went with them
}

// RefreshToken is a newly issued opaque refresh token.
type RefreshToken struct {
	Token     string
	UserID    string
	ExpiresAt time.Time
}
