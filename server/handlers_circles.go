package server

import (
	"net/http"

	"circly"

	"github.com/gin-gonic/gin"
)

// Allowed circle sizes.
var circleSizes = map[int]bool{10: true, 25: true, 50: true}

type createCircleRequest struct {
	Name       *string `json:"name"`
	MaxMembers *int    `json:"max_members"`
	Nickname   *string `json:"nickname"`
}

func checkSize(v *int) error {
	if v != nil && !circleSizes[*v] {
		return invalid("max_members", "max_members must be 10, 25 or 50")
	}
	return nil
}

func (s *Server) createCircle(c *gin.Context) error {
	var req createCircleRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	name, err := textField("name", req.Name, true, 100)
	if err != nil {
		return err
	}
	nick, err := textField("nickname", req.Nickname, true, 20)
	if err != nil {
		return err
	}
	size := 50
	if err := checkSize(req.MaxMembers); err != nil {
		return err
	}
	if req.MaxMembers != nil {
		size = *req.MaxMembers
	}
	circle, err := s.app.CreateCircle(c.Request.Context(), userID(c), name, size, nick)
	if err != nil {
		return err
	}
	ok(c, http.StatusCreated, s.circleView(circle))
	return nil
}

func (s *Server) listCircles(c *gin.Context) error {
	p, err := page(c, DefaultLimit)
	if err != nil {
		return err
	}
	circles, total, err := s.app.ListCircles(c.Request.Context(), userID(c), p)
	if err != nil {
		return err
	}
	out := make([]circleJSON, len(circles))
	for i, x := range circles {
		out[i] = s.circleView(x)
	}
	ok(c, http.StatusOK, listOf("circles", out, total, p))
	return nil
}

func (s *Server) getCircle(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	d, err := s.app.GetCircle(c.Request.Context(), userID(c), id)
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, s.circleDetailView(d, userID(c)))
	return nil
}

type updateCircleRequest struct {
	Name       *string `json:"name"`
	MaxMembers *int    `json:"max_members"`
}

func (s *Server) updateCircle(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	var req updateCircleRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Name == nil && req.MaxMembers == nil {
		return circly.Errorf(circly.CodeValidation, "send name, max_members or both")
	}
	var up circly.CircleUpdate
	if req.Name != nil {
		name, err := textField("name", req.Name, true, 100)
		if err != nil {
			return err
		}
		up.Name = &name
	}
	if err := checkSize(req.MaxMembers); err != nil {
		return err
	}
	up.MaxMembers = req.MaxMembers
	circle, err := s.app.UpdateCircle(c.Request.Context(), userID(c), id, up)
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, s.circleView(circle))
	return nil
}

func (s *Server) deleteCircle(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	closed, err := s.app.DeleteCircle(c.Request.Context(), userID(c), id)
	if err != nil {
		return err
	}
	okMessage(c, http.StatusOK, gin.H{"id": id, "closed_poll_ids": closed}, "circle deleted")
	return nil
}

type joinRequest struct {
	InviteCode   *string `json:"invite_code"`
	InviteLinkID *string `json:"invite_link_id"`
	Nickname     *string `json:"nickname"`
}

func (s *Server) joinCircle(c *gin.Context) error {
	var req joinRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	var jr circly.JoinRequest
	switch {
	case req.InviteCode != nil && req.InviteLinkID != nil:
		return circly.Errorf(circly.CodeValidation, "send invite_code or invite_link_id, not both")
	case req.InviteCode != nil:
		code, err := textField("invite_code", req.InviteCode, true, circly.InviteCodeLength)
		if err != nil {
			return err
		}
		if len(code) != circly.InviteCodeLength {
			return invalid("invite_code", "invite_code has %d characters", circly.InviteCodeLength)
		}
		jr.InviteCode = code
	case req.InviteLinkID != nil:
		link, err := checkUUID("invite_link_id", *req.InviteLinkID)
		if err != nil {
			return err
		}
		jr.InviteLinkID = link
	default:
		return missing("invite_code")
	}
	nick, err := textField("nickname", req.Nickname, true, 20)
	if err != nil {
		return err
	}
	jr.Nickname = nick
	circle, member, err := s.app.JoinCircle(c.Request.Context(), userID(c), jr)
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, gin.H{"circle": s.circleView(circle), "membership": membershipView(member)})
	return nil
}

func (s *Server) regenerateInvite(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	circle, err := s.app.RegenerateInvite(c.Request.Context(), userID(c), id)
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, s.circleView(circle))
	return nil
}

func (s *Server) leaveCircle(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	m, err := s.app.LeaveCircle(c.Request.Context(), userID(c), id)
	if err != nil {
		return err
	}
	okMessage(c, http.StatusOK, gin.H{"circle_id": id, "member_id": m.ID}, "left the circle")
	return nil
}

func (s *Server) removeMember(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	memberID, err := uuidParam(c, "member_id")
	if err != nil {
		return err
	}
	m, err := s.app.RemoveMember(c.Request.Context(), userID(c), id, memberID)
	if err != nil {
		return err
	}
	okMessage(c, http.StatusOK, gin.H{"circle_id": id, "member_id": m.ID}, "member removed")
	return nil
}
