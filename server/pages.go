package server

import (
	"strings"

	"circly/sqlstore"
	"circly/web"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
)

// webRoutes serves the browser pages (package web) beside the API. They pass through the same
// middleware; a page sets its own Content-Security-Policy and Cache-Control over the API's.
func (s *Server) webRoutes(r *gin.Engine) {
	r.GET("/join/:id", s.invitePage)
	r.HEAD("/join/:id", s.invitePage)
	r.GET("/join/:id/web", s.livePage)
	r.HEAD("/join/:id/web", s.livePage)
	static := gin.WrapH(s.pages.Static())
	r.GET(web.StaticPrefix+"*file", static)
	r.HEAD(web.StaticPrefix+"*file", static)
}

// isPagePath: the request is for a browser page, whose errors are pages too.
func isPagePath(path string) bool { return strings.HasPrefix(path, "/join/") }

// invitePage is the page behind every invite_link (<PUBLIC_URL>/join/<invite_link_id>).
func (s *Server) invitePage(c *gin.Context) {
	err := s.pages.Invite(c.Writer, c.Request, c.Param("id"), sqlstore.Unavailable)
	switch {
	case err == nil:
	case sqlstore.Unavailable(err):
		s.logger(c).Warn("invite page: database unavailable", zap.Error(err))
	default:
		s.logger(c).Error("invite page failed", zap.Error(err))
		s.reportError(c, err)
	}
}

// livePage is the page where someone without the app joins, votes and watches the tallies
// (<PUBLIC_URL>/join/<invite_link_id>/web, linked from the invite page).
func (s *Server) livePage(c *gin.Context) {
	err := s.pages.Live(c.Writer, c.Request, c.Param("id"), sqlstore.Unavailable)
	switch {
	case err == nil:
	case sqlstore.Unavailable(err):
		s.logger(c).Warn("live page: database unavailable", zap.Error(err))
	default:
		s.logger(c).Error("live page failed", zap.Error(err))
		s.reportError(c, err)
	}
}
