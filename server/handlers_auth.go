package server

import (
	"net/http"
	"regexp"
	"time"

	"circly"

	"github.com/gin-gonic/gin"
)

type deviceLoginRequest struct {
	DeviceID   *string `json:"device_id"`
	Platform   *string `json:"platform"`
	AppVersion *string `json:"app_version"`
}

type tokensJSON struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	UserID       string `json:"user_id,omitempty"`
}

func (s *Server) deviceLogin(c *gin.Context) error {
	var req deviceLoginRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	deviceID, err := textField("device_id", req.DeviceID, true, 255)
	if err != nil {
		return err
	}
	if req.Platform == nil {
		return missing("platform")
	}
	switch *req.Platform {
	case "ios", "android", "web":
	default:
		return invalid("platform", "platform must be ios, android or web")
	}
	var appVersion *string
	if req.AppVersion != nil {
		v, err := textField("app_version", req.AppVersion, false, 20)
		if err != nil {
			return err
		}
		appVersion = &v
	}
	u, err := s.app.DeviceLogin(c.Request.Context(), deviceID, *req.Platform, appVersion)
	if err != nil {
		return err
	}
	out, err := s.issueTokens(c, u.ID)
	if err != nil {
		return err
	}
	out.UserID = u.ID
	ok(c, http.StatusOK, out)
	return nil
}

func (s *Server) issueTokens(c *gin.Context, userID string) (tokensJSON, error) {
	access, err := s.tokens.Issue(userID)
	if err != nil {
		return tokensJSON{}, err
	}
	refresh, err := s.app.IssueRefreshToken(c.Request.Context(), userID)
	if err != nil {
		return tokensJSON{}, err
	}
	return tokensJSON{AccessToken: access, RefreshToken: refresh.Token, ExpiresIn: int64(s.tokens.TTL() / time.Second)}, nil
}

type refreshRequest struct {
	RefreshToken *string `json:"refresh_token"`
}

func (s *Server) refresh(c *gin.Context) error {
	var req refreshRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.RefreshToken == nil || *req.RefreshToken == "" {
		return missing("refresh_token")
	}
	if len(*req.RefreshToken) > 256 {
		return circly.ErrInvalidToken
	}
	next, err := s.app.RotateRefreshToken(c.Request.Context(), *req.RefreshToken)
	if err != nil {
		return err
	}
	access, err := s.tokens.Issue(next.UserID)
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, tokensJSON{AccessToken: access, RefreshToken: next.Token, ExpiresIn: int64(s.tokens.TTL() / time.Second)})
	return nil
}

func (s *Server) getMe(c *gin.Context) error {
	u, err := s.app.GetUser(c.Request.Context(), userID(c))
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, userView(u))
	return nil
}

type updateMeRequest struct {
	PushToken *string `json:"push_token"`
	Timezone  *string `json:"timezone"`
}

var expoToken = regexp.MustCompile(`^Expo(nent)?PushToken\[[A-Za-z0-9_-]{1,200}\]$`)

func (s *Server) updateMe(c *gin.Context) error {
	var req updateMeRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.PushToken == nil && req.Timezone == nil {
		return circly.Errorf(circly.CodeValidation, "send push_token, timezone or both")
	}
	if req.PushToken != nil && !expoToken.MatchString(*req.PushToken) {
		return invalid("push_token", "push_token must be an Expo push token: ExponentPushToken[...] or ExpoPushToken[...]")
	}
	if req.Timezone != nil {
		if *req.Timezone == "" || len(*req.Timezone) > 64 || *req.Timezone == "Local" {
			return invalid("timezone", "timezone must be an IANA name such as Asia/Seoul")
		}
		if _, err := time.LoadLocation(*req.Timezone); err != nil {
			return invalid("timezone", "timezone must be an IANA name such as Asia/Seoul")
		}
	}
	u, err := s.app.UpdateUser(c.Request.Context(), userID(c), circly.UserUpdate{PushToken: req.PushToken, Timezone: req.Timezone})
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, userView(u))
	return nil
}

func (s *Server) deleteMe(c *gin.Context) error {
	id := userID(c)
	if err := s.removeUploadsOf(c.Request.Context(), id); err != nil { // handlers_uploads.go
		return err
	}
	if err := s.app.DeleteAccount(c.Request.Context(), id); err != nil {
		return err
	}
	s.users.forget(id)
	okMessage(c, http.StatusOK, gin.H{"deleted": true}, "account deleted")
	return nil
}
