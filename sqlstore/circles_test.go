package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"circly"
)

func checkInviteCode(t *testing.T, code *string) {
	t.Helper()
	if code == nil || len(*code) != circly.InviteCodeLength {
		t.Fatalf("invite code %v is not %d characters", code, circly.InviteCodeLength)
	}
	for _, r := range *code {
		if !strings.ContainsRune(circly.InviteAlphabet, r) {
			t.Fatalf("invite code %q has %q, outside %q", *code, r, circly.InviteAlphabet)
		}
	}
}

func TestCreateCircle(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		u := e.user()
		seen := map[string]bool{}
		for i := range 20 {
			c, err := e.s.CreateCircle(e.ctx, u.ID, "Club", 25, "me")
			must(t, err)
			checkInviteCode(t, c.InviteCode)
			if seen[*c.InviteCode] {
				t.Fatalf("invite code %s handed out twice", *c.InviteCode)
			}
			seen[*c.InviteCode] = true
			if i > 0 {
				continue
			}
			if c.Name != "Club" || c.MaxMembers != 25 || c.MemberCount != 1 || c.Role != circly.RoleCreator || c.ActivePolls != 0 {
				t.Fatalf("created %+v", c)
			}
			if c.InviteLinkID == nil || *c.InviteLinkID == "" || c.InviteExpiresAt == nil ||
				!c.InviteExpiresAt.Equal(t0.Add(24*time.Hour)) || !c.CreatedAt.Equal(t0) {
				t.Fatalf("invite link %v expires %v, created %v", c.InviteLinkID, c.InviteExpiresAt, c.CreatedAt)
			}
			d, err := e.s.GetCircle(e.ctx, u.ID, c.ID)
			must(t, err)
			if len(d.Members) != 1 || d.Members[0].Role != circly.RoleCreator || d.Members[0].Nickname != "me" {
				t.Fatalf("members %+v", d.Members)
			}
		}
		list, total, err := e.s.ListCircles(e.ctx, u.ID, circly.Page{Limit: 5, Offset: 0})
		must(t, err)
		if total != 20 || len(list) != 5 {
			t.Fatalf("ListCircles: total %d, %d on the page", total, len(list))
		}
		_, err = e.s.CreateCircle(e.ctx, "00000000-0000-4000-8000-00000000abcd", "x", 10, "x")
		wantCode(t, err, circly.CodeUnauthorized)
	})
}

func TestJoinCircle(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(1, 10)
		a, b := e.user(), e.user()

		// Codes match case-insensitively.
		c, m, err := e.s.JoinCircle(e.ctx, a.ID, circly.JoinRequest{InviteCode: strings.ToLower(*fx.InviteCode), Nickname: "a"})
		must(t, err)
		if c.ID != fx.ID || c.MemberCount != 2 || c.Role != circly.RoleMember || m.Role != circly.RoleMember || m.Nickname != "a" ||
			m.CircleID != fx.ID || !m.JoinedAt.Equal(t0) {
			t.Fatalf("join by code: circle %+v membership %+v", c, m)
		}
		// ... and by invite link id.
		c, _, err = e.s.JoinCircle(e.ctx, b.ID, circly.JoinRequest{InviteLinkID: *fx.InviteLinkID, Nickname: "b"})
		must(t, err)
		if c.MemberCount != 3 {
			t.Fatalf("member_count %d after two joins", c.MemberCount)
		}

		_, _, err = e.s.JoinCircle(e.ctx, a.ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: "a2"})
		wantCode(t, err, circly.CodeAlreadyMember)
		_, _, err = e.s.JoinCircle(e.ctx, fx.Users[0].ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: "boss"})
		wantCode(t, err, circly.CodeAlreadyMember)
		_, _, err = e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: "a"})
		wantCode(t, err, circly.CodeNicknameTaken)
		_, _, err = e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteCode: "ZZZZZZ", Nickname: "z"})
		wantCode(t, err, circly.CodeInviteNotFound)
		_, _, err = e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteLinkID: "00000000-0000-4000-8000-00000000abcd", Nickname: "z"})
		wantCode(t, err, circly.CodeInviteNotFound)

		// A nickname frees up when its holder leaves.
		_, err = e.s.LeaveCircle(e.ctx, a.ID, fx.ID)
		must(t, err)
		if _, _, err := e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: "a"}); err != nil {
			t.Fatalf("nickname of a departed member still taken: %v", err)
		}
		d, err := e.s.GetCircle(e.ctx, b.ID, fx.ID)
		must(t, err)
		if d.MemberCount != 3 || len(d.Members) != 3 {
			t.Fatalf("member_count %d, %d members", d.MemberCount, len(d.Members))
		}
		if got := []string{d.Members[0].Nickname, d.Members[1].Nickname, d.Members[2].Nickname}; strings.Join(got, ",") != "m0,b,a" {
			t.Fatalf("members in order %v, want join order m0,b,a", got)
		}
	})
}

func TestInviteExpiryAndRegeneration(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(2, 10)
		oldCode, oldLink := *fx.InviteCode, *fx.InviteLinkID

		e.clock.Advance(23 * time.Hour)
		_, _, err := e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteCode: oldCode, Nickname: "early"})
		must(t, err)

		e.clock.Advance(2 * time.Hour) // 25 h after creation
		_, _, err = e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteCode: oldCode, Nickname: "late"})
		wantCode(t, err, circly.CodeInviteExpired)
		_, _, err = e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteLinkID: oldLink, Nickname: "late"})
		wantCode(t, err, circly.CodeInviteExpired)

		_, err = e.s.RegenerateInvite(e.ctx, fx.Users[1].ID, fx.ID)
		wantCode(t, err, circly.CodeNotCircleCreator)
		c, err := e.s.RegenerateInvite(e.ctx, fx.Users[0].ID, fx.ID)
		must(t, err)
		checkInviteCode(t, c.InviteCode)
		if *c.InviteCode == oldCode || *c.InviteLinkID == oldLink || !c.InviteExpiresAt.Equal(e.clock.Now().Add(24*time.Hour)) {
			t.Fatalf("regenerated invite %s %s %v", *c.InviteCode, *c.InviteLinkID, c.InviteExpiresAt)
		}
		_, _, err = e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteCode: oldCode, Nickname: "late"})
		wantCode(t, err, circly.CodeInviteNotFound)
		_, _, err = e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteLinkID: oldLink, Nickname: "late"})
		wantCode(t, err, circly.CodeInviteNotFound)
		if _, _, err := e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteCode: *c.InviteCode, Nickname: "late"}); err != nil {
			t.Fatalf("new code: %v", err)
		}
		if _, _, err := e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteLinkID: *c.InviteLinkID, Nickname: "later"}); err != nil {
			t.Fatalf("new link: %v", err)
		}
	})
}

func TestCircleFull(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(10, 10)
		if fx.Members[9].Nickname != "m9" {
			t.Fatalf("fixture: %+v", fx.Members[9])
		}
		_, _, err := e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: "eleven"})
		wantCode(t, err, circly.CodeCircleFull)
		// A member already in a full circle hears ALREADY_MEMBER, not CIRCLE_FULL.
		_, _, err = e.s.JoinCircle(e.ctx, fx.Users[3].ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: "again"})
		wantCode(t, err, circly.CodeAlreadyMember)

		// Growing the circle makes room.
		c, err := e.s.UpdateCircle(e.ctx, fx.Users[0].ID, fx.ID, circly.CircleUpdate{MaxMembers: ptr(25)})
		must(t, err)
		if c.MaxMembers != 25 {
			t.Fatalf("max_members = %d", c.MaxMembers)
		}
		e.join(fx, e.user())
		// 11 members: shrinking to 10 is refused and changes nothing.
		_, err = e.s.UpdateCircle(e.ctx, fx.Users[0].ID, fx.ID, circly.CircleUpdate{Name: ptr("renamed"), MaxMembers: ptr(10)})
		wantCode(t, err, circly.CodeCircleFull)
		d, err := e.s.GetCircle(e.ctx, fx.Users[0].ID, fx.ID)
		must(t, err)
		if d.MaxMembers != 25 || d.MemberCount != 11 || d.Name != "Class 2-3" {
			t.Fatalf("after refused update: %+v", d.Circle)
		}
		// Down to exactly the member count is allowed once someone leaves.
		_, err = e.s.LeaveCircle(e.ctx, fx.Users[10].ID, fx.ID)
		must(t, err)
		c, err = e.s.UpdateCircle(e.ctx, fx.Users[0].ID, fx.ID, circly.CircleUpdate{Name: ptr("renamed"), MaxMembers: ptr(10)})
		must(t, err)
		if c.MaxMembers != 10 || c.MemberCount != 10 || c.Name != "renamed" {
			t.Fatalf("after update: %+v", c)
		}
		_, err = e.s.UpdateCircle(e.ctx, fx.Users[1].ID, fx.ID, circly.CircleUpdate{Name: ptr("mine")})
		wantCode(t, err, circly.CodeNotCircleCreator)
	})
}

func TestLeaveAndRemove(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		outsider := e.user()

		_, err := e.s.LeaveCircle(e.ctx, fx.Users[0].ID, fx.ID)
		wantCode(t, err, circly.CodeForbidden)
		_, err = e.s.LeaveCircle(e.ctx, outsider.ID, fx.ID)
		wantCode(t, err, circly.CodeNotCircleMember)
		_, err = e.s.LeaveCircle(e.ctx, outsider.ID, "00000000-0000-4000-8000-00000000abcd")
		wantCode(t, err, circly.CodeCircleNotFound)

		m, err := e.s.LeaveCircle(e.ctx, fx.Users[1].ID, fx.ID)
		must(t, err)
		if m.ID != fx.Members[1].ID {
			t.Fatalf("left membership %s, want %s", m.ID, fx.Members[1].ID)
		}
		_, err = e.s.GetCircle(e.ctx, fx.Users[1].ID, fx.ID)
		wantCode(t, err, circly.CodeNotCircleMember)
		_, err = e.s.LeaveCircle(e.ctx, fx.Users[1].ID, fx.ID)
		wantCode(t, err, circly.CodeNotCircleMember)

		// Only the creator removes, and not themselves.
		_, err = e.s.RemoveMember(e.ctx, fx.Users[2].ID, fx.ID, fx.Members[3].ID)
		wantCode(t, err, circly.CodeNotCircleCreator)
		_, err = e.s.RemoveMember(e.ctx, fx.Users[0].ID, fx.ID, fx.Members[0].ID)
		wantCode(t, err, circly.CodeValidation)
		_, err = e.s.RemoveMember(e.ctx, fx.Users[0].ID, fx.ID, fx.Members[1].ID) // already gone
		wantCode(t, err, circly.CodeNotFound)
		removed, err := e.s.RemoveMember(e.ctx, fx.Users[0].ID, fx.ID, fx.Members[3].ID)
		must(t, err)
		if removed.ID != fx.Members[3].ID || removed.UserID == nil || *removed.UserID != fx.Users[3].ID {
			t.Fatalf("removed %+v", removed)
		}
		_, err = e.s.GetCircle(e.ctx, fx.Users[3].ID, fx.ID)
		wantCode(t, err, circly.CodeNotCircleMember)

		d, err := e.s.GetCircle(e.ctx, fx.Users[0].ID, fx.ID)
		must(t, err)
		if d.MemberCount != 2 || len(d.Members) != 2 {
			t.Fatalf("member_count %d, %d members; want 2", d.MemberCount, len(d.Members))
		}
		if n := e.scalar(`SELECT count(*) FROM circle_members WHERE circle_id = ? AND left_reason = 'removed'`, fx.ID); n != 1 {
			t.Fatalf("%d removed memberships recorded", n)
		}
		// A removed member may come back through the invite.
		if _, _, err := e.s.JoinCircle(e.ctx, fx.Users[3].ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: "back"}); err != nil {
			t.Fatalf("rejoin: %v", err)
		}
		list, total, err := e.s.ListCircles(e.ctx, fx.Users[1].ID, circly.Page{Limit: 20})
		must(t, err)
		if total != 0 || len(list) != 0 {
			t.Fatalf("a member who left still lists %d circles", total)
		}
	})
}

func TestDeleteCircleClosesPolls(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		open := e.poll(fx, 1)
		done := e.poll(fx, 2)
		_, err := e.s.ClosePoll(e.ctx, done.ID)
		must(t, err)
		// Two votes: with a batch of 3 nothing is released yet.
		pick := optionOf(t, open, fx.Members[3].ID)
		e.vote(fx.Users[0].ID, open.ID, pick)
		e.vote(fx.Users[2].ID, open.ID, pick)
		before, err := e.s.Tally(e.ctx, open.ID)
		must(t, err)
		if before.Version != 0 || before.TotalVotes != 0 {
			t.Fatalf("tally before delete: %+v", before)
		}

		_, err = e.s.DeleteCircle(e.ctx, fx.Users[1].ID, fx.ID)
		wantCode(t, err, circly.CodeNotCircleCreator)
		closed, err := e.s.DeleteCircle(e.ctx, fx.Users[0].ID, fx.ID)
		must(t, err)
		if len(closed) != 1 || closed[0] != open.ID {
			t.Fatalf("DeleteCircle closed %v, want [%s]", closed, open.ID)
		}
		after, err := e.s.Tally(e.ctx, open.ID)
		must(t, err)
		if !after.IsClosed || after.Version != 1 || after.TotalVotes != 2 || tallyCounts(after)[pick] != 2 {
			t.Fatalf("tally after delete: %+v", after)
		}
		doneTally, err := e.s.Tally(e.ctx, done.ID)
		must(t, err)
		if doneTally.Version != 1 {
			t.Fatalf("an already closed poll was released again: version %d", doneTally.Version)
		}

		_, err = e.s.GetCircle(e.ctx, fx.Users[0].ID, fx.ID)
		wantCode(t, err, circly.CodeCircleNotFound)
		_, err = e.s.GetPoll(e.ctx, fx.Users[0].ID, open.ID)
		wantCode(t, err, circly.CodePollNotFound)
		_, _, err = e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteCode: *fx.InviteCode, Nickname: "x"})
		wantCode(t, err, circly.CodeInviteNotFound)
		_, err = e.s.DeleteCircle(e.ctx, fx.Users[0].ID, fx.ID)
		wantCode(t, err, circly.CodeCircleNotFound)
		list, total, err := e.s.ListCircles(e.ctx, fx.Users[2].ID, circly.Page{Limit: 20})
		must(t, err)
		if total != 0 || len(list) != 0 {
			t.Fatalf("deleted circle still listed (%d)", total)
		}
	})
}

func TestListCirclesCountsActivePolls(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(3, 50)
		e.poll(fx, 0)
		p2 := e.poll(fx, 1)
		_, err := e.s.ClosePoll(e.ctx, p2.ID)
		must(t, err)
		list, total, err := e.s.ListCircles(e.ctx, fx.Users[2].ID, circly.Page{Limit: 20})
		must(t, err)
		if total != 1 || len(list) != 1 {
			t.Fatalf("ListCircles total %d", total)
		}
		c := list[0]
		if c.ID != fx.ID || c.ActivePolls != 1 || c.MemberCount != 3 || c.MaxMembers != 50 || c.Role != circly.RoleMember {
			t.Fatalf("listed %+v", c)
		}
		e.clock.Advance(2 * time.Hour) // the open poll is past its deadline
		list, _, err = e.s.ListCircles(e.ctx, fx.Users[2].ID, circly.Page{Limit: 20})
		must(t, err)
		if list[0].ActivePolls != 0 {
			t.Fatalf("active_polls = %d after the deadline", list[0].ActivePolls)
		}
	})
}
