package sqlstore_test

import (
	"reflect"
	"sort"
	"testing"
	"time"

	"circly"
)

func TestDeviceLoginSameDeviceSameUser(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		a, err := e.s.DeviceLogin(e.ctx, "device-A", "ios", ptr("1.0.0"))
		must(t, err)
		if a.ID == "" || a.Timezone != "Asia/Seoul" || a.Platform != "ios" || a.AppVersion == nil || *a.AppVersion != "1.0.0" {
			t.Fatalf("first login = %+v", a)
		}
		e.clock.Advance(time.Hour)
		again, err := e.s.DeviceLogin(e.ctx, "device-A", "android", ptr("1.1.0"))
		must(t, err)
		if again.ID != a.ID {
			t.Fatalf("same device got user %s, then %s", a.ID, again.ID)
		}
		if again.Platform != "android" || *again.AppVersion != "1.1.0" || !again.CreatedAt.Equal(a.CreatedAt) ||
			!again.LastActiveAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("second login = %+v", again)
		}
		b, err := e.s.DeviceLogin(e.ctx, "device-B", "web", nil)
		must(t, err)
		if b.ID == a.ID {
			t.Fatal("two devices share a user")
		}
		if n := e.scalar(`SELECT count(*) FROM users`); n != 2 {
			t.Fatalf("%d users, want 2", n)
		}
		got, err := e.s.GetUser(e.ctx, a.ID)
		must(t, err)
		if got.DeviceID != "device-A" {
			t.Fatalf("GetUser = %+v", got)
		}
	})
}

func TestUpdateUser(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		u := e.user()
		got, err := e.s.UpdateUser(e.ctx, u.ID, circly.UserUpdate{Timezone: ptr("Europe/Berlin"), PushToken: ptr("ExponentPushToken[abc]")})
		must(t, err)
		if got.Timezone != "Europe/Berlin" {
			t.Fatalf("timezone = %q", got.Timezone)
		}
		_, err = e.s.UpdateUser(e.ctx, u.ID, circly.UserUpdate{PushToken: ptr("ExponentPushToken[def]")})
		must(t, err)
		if n := e.scalar(`SELECT count(*) FROM push_tokens WHERE user_id = ? AND token = 'ExponentPushToken[def]'`, u.ID); n != 1 {
			t.Fatalf("push token not replaced (%d rows)", n)
		}
		_, err = e.s.UpdateUser(e.ctx, "00000000-0000-4000-8000-00000000abcd", circly.UserUpdate{Timezone: ptr("UTC")})
		wantCode(t, err, circly.CodeUnauthorized)
	})
}

func TestRefreshTokenRotation(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		u := e.user()
		t1, err := e.s.IssueRefreshToken(e.ctx, u.ID)
		must(t, err)
		if t1.UserID != u.ID || !t1.ExpiresAt.Equal(t0.Add(circly.DefaultPolicy().RefreshTokenTTL)) {
			t.Fatalf("issued %+v", t1)
		}
		if n := e.scalar(`SELECT count(*) FROM refresh_tokens WHERE token_hash = ?`, t1.Token); n != 0 {
			t.Fatal("refresh token stored in clear")
		}
		t2, err := e.s.RotateRefreshToken(e.ctx, t1.Token)
		must(t, err)
		if t2.Token == t1.Token || t2.UserID != u.ID {
			t.Fatalf("rotation gave %+v", t2)
		}
		t3, err := e.s.RotateRefreshToken(e.ctx, t2.Token)
		must(t, err)
		if t3.Token == t2.Token {
			t.Fatal("rotation returned the same token")
		}
		_, err = e.s.RotateRefreshToken(e.ctx, "not-a-token")
		wantCode(t, err, circly.CodeInvalidToken)
	})
}

func TestRefreshTokenReuseRevokesFamily(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		u := e.user()
		t1, err := e.s.IssueRefreshToken(e.ctx, u.ID)
		must(t, err)
		other, err := e.s.IssueRefreshToken(e.ctx, u.ID) // another login: another family
		must(t, err)
		t2, err := e.s.RotateRefreshToken(e.ctx, t1.Token)
		must(t, err)
		t3, err := e.s.RotateRefreshToken(e.ctx, t2.Token)
		must(t, err)

		// t1 was rotated already: replaying it is theft.
		_, err = e.s.RotateRefreshToken(e.ctx, t1.Token)
		wantCode(t, err, circly.CodeInvalidToken)
		// The newest token of the family is dead too, and stays dead.
		_, err = e.s.RotateRefreshToken(e.ctx, t3.Token)
		wantCode(t, err, circly.CodeInvalidToken)
		_, err = e.s.RotateRefreshToken(e.ctx, t3.Token)
		wantCode(t, err, circly.CodeInvalidToken)
		if n := e.scalar(`SELECT count(*) FROM refresh_tokens WHERE user_id = ? AND revoked_at IS NULL`, u.ID); n != 1 {
			t.Fatalf("%d unrevoked tokens, want only the other family's", n)
		}
		// The other family is untouched.
		if _, err := e.s.RotateRefreshToken(e.ctx, other.Token); err != nil {
			t.Fatalf("other family revoked too: %v", err)
		}
	})
}

func TestRefreshTokenExpired(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		u := e.user()
		tok, err := e.s.IssueRefreshToken(e.ctx, u.ID)
		must(t, err)
		ttl := circly.DefaultPolicy().RefreshTokenTTL
		e.clock.Advance(ttl - time.Second)
		fresh, err := e.s.RotateRefreshToken(e.ctx, tok.Token)
		must(t, err)
		e.clock.Advance(ttl)
		_, err = e.s.RotateRefreshToken(e.ctx, fresh.Token)
		wantCode(t, err, circly.CodeTokenExpired)
	})
}

func TestDeleteUserHandsOverCircle(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10) // creator, then m1, m2, m3 in join order
		creator, heir := fx.Users[0], fx.Users[1]
		pl := e.poll(fx, 1)
		// The creator casts a ballot before leaving; it must stay counted.
		e.vote(creator.ID, pl.ID, optionOf(t, pl, fx.Members[2].ID))
		e.vote(fx.Users[3].ID, pl.ID, optionOf(t, pl, fx.Members[2].ID))
		tok, err := e.s.IssueRefreshToken(e.ctx, creator.ID)
		must(t, err)

		ended, err := e.s.DeleteUser(e.ctx, creator.ID)
		must(t, err)
		want := []circly.EndedMembership{{CircleID: fx.ID, MemberID: fx.Members[0].ID, Nickname: fx.Members[0].Nickname}}
		if !reflect.DeepEqual(ended, want) {
			t.Fatalf("ended memberships %+v, want %+v", ended, want)
		}

		_, err = e.s.GetUser(e.ctx, creator.ID)
		wantCode(t, err, circly.CodeUnauthorized)
		_, err = e.s.RotateRefreshToken(e.ctx, tok.Token)
		wantCode(t, err, circly.CodeInvalidToken)
		_, err = e.s.DeleteUser(e.ctx, creator.ID)
		wantCode(t, err, circly.CodeUnauthorized)

		d, err := e.s.GetCircle(e.ctx, heir.ID, fx.ID)
		must(t, err)
		if d.MemberCount != 3 || len(d.Members) != 3 {
			t.Fatalf("after delete: member_count %d, %d members; want 3", d.MemberCount, len(d.Members))
		}
		if d.Role != circly.RoleCreator || d.Members[0].ID != fx.Members[1].ID || d.Members[0].Role != circly.RoleCreator {
			t.Fatalf("circle did not pass to the longest-standing member: role %s, members %+v", d.Role, d.Members)
		}
		for _, m := range d.Members[1:] {
			if m.Role != circly.RoleMember {
				t.Fatalf("member %s has role %s", m.Nickname, m.Role)
			}
		}
		if n := e.scalar(`SELECT count(*) FROM circles WHERE id = ? AND creator_user_id = ?`, fx.ID, heir.ID); n != 1 {
			t.Fatal("circles.creator_user_id not handed over")
		}
		if n := e.scalar(`SELECT count(*) FROM circle_members WHERE id = ? AND left_at IS NOT NULL`, fx.Members[0].ID); n != 1 {
			t.Fatal("the deleted user's membership did not end")
		}
		// The heir can act as creator; the others still cannot.
		if _, err := e.s.RegenerateInvite(e.ctx, heir.ID, fx.ID); err != nil {
			t.Fatalf("heir cannot regenerate the invite: %v", err)
		}
		_, err = e.s.RegenerateInvite(e.ctx, fx.Users[2].ID, fx.ID)
		wantCode(t, err, circly.CodeNotCircleCreator)

		// Ballots stay counted.
		_, err = e.s.ClosePoll(e.ctx, pl.ID)
		must(t, err)
		got, err := e.s.GetPoll(e.ctx, heir.ID, pl.ID)
		must(t, err)
		if got.TotalVotes != 2 || counts(got)[optionOf(t, pl, fx.Members[2].ID)] != 2 {
			t.Fatalf("after delete: total %d, counts %v; want the 2 ballots", got.TotalVotes, counts(got))
		}
		if n := e.scalar(`SELECT count(*) FROM poll_participants WHERE poll_id = ?`, pl.ID); n != 2 {
			t.Fatalf("%d participants, want 2", n)
		}
	})
}

func TestDeleteUserAloneDeletesCircle(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		solo := e.circle(1, 10)
		shared := e.circle(3, 10)
		u := solo.Users[0]
		// u is also a plain member of a circle someone else created.
		m := e.join(shared, u)

		ended, err := e.s.DeleteUser(e.ctx, u.ID)
		must(t, err)
		sort.SliceStable(ended, func(i, j int) bool { return ended[i].CircleDeleted && !ended[j].CircleDeleted })
		want := []circly.EndedMembership{
			{CircleID: solo.ID, MemberID: solo.Members[0].ID, Nickname: solo.Members[0].Nickname, CircleDeleted: true},
			{CircleID: shared.ID, MemberID: m.ID, Nickname: m.Nickname},
		}
		if !reflect.DeepEqual(ended, want) {
			t.Fatalf("ended memberships %+v, want %+v", ended, want)
		}

		if n := e.scalar(`SELECT count(*) FROM circles WHERE id = ? AND deleted_at IS NOT NULL AND invite_code IS NULL`, solo.ID); n != 1 {
			t.Fatal("the deleted user's own circle was not deleted")
		}
		_, _, err = e.s.JoinCircle(e.ctx, e.user().ID, circly.JoinRequest{InviteCode: *solo.InviteCode, Nickname: "x"})
		wantCode(t, err, circly.CodeInviteNotFound)

		d, err := e.s.GetCircle(e.ctx, shared.Users[0].ID, shared.ID)
		must(t, err)
		if d.MemberCount != 3 || len(d.Members) != 3 || d.Members[0].ID != shared.Members[0].ID {
			t.Fatalf("shared circle after delete: %d members (%d listed)", d.MemberCount, len(d.Members))
		}
		for _, x := range d.Members {
			if x.ID == m.ID {
				t.Fatal("deleted user still listed as a member")
			}
		}
	})
}

func TestUserExistsAndTouchUsers(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		u, other := e.user(), e.user()
		ok, err := e.s.UserExists(e.ctx, u.ID)
		must(t, err)
		if !ok {
			t.Fatal("UserExists says the user does not exist")
		}
		e.clock.Advance(10 * time.Minute)
		must(t, e.s.TouchUsers(e.ctx, []string{u.ID, "00000000-0000-4000-8000-000000000000"}, 5*time.Minute))
		got, _ := e.s.GetUser(e.ctx, u.ID)
		if !got.LastActiveAt.Equal(t0.Add(10 * time.Minute)) {
			t.Fatalf("last_active_at = %s", got.LastActiveAt)
		}
		if o, _ := e.s.GetUser(e.ctx, other.ID); !o.LastActiveAt.Equal(t0) {
			t.Fatalf("a user not in the batch was touched: %s", o.LastActiveAt)
		}
		e.clock.Advance(time.Minute)
		must(t, e.s.TouchUsers(e.ctx, []string{u.ID}, 5*time.Minute))
		got, _ = e.s.GetUser(e.ctx, u.ID)
		if !got.LastActiveAt.Equal(t0.Add(10 * time.Minute)) {
			t.Fatalf("touched again within the interval: last_active_at=%s", got.LastActiveAt)
		}
		// More ids than one statement takes.
		many := make([]string, 0, 1201)
		for range 1200 {
			many = append(many, "00000000-0000-4000-8000-000000000000")
		}
		many = append(many, other.ID)
		must(t, e.s.TouchUsers(e.ctx, many, 5*time.Minute))
		if o, _ := e.s.GetUser(e.ctx, other.ID); !o.LastActiveAt.Equal(t0.Add(11 * time.Minute)) {
			t.Fatalf("the last of 1,201 ids was not touched: %s", o.LastActiveAt)
		}
		_, err = e.s.DeleteUser(e.ctx, u.ID)
		must(t, err)
		ok, err = e.s.UserExists(e.ctx, u.ID)
		must(t, err)
		if ok {
			t.Fatal("UserExists says a deleted user exists")
		}
	})
}
