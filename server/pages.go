package server

import (
	"net/http"
	"strings"

	"circly/sqlstore"
	"circly/web"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
)

// webRoutes serves the browser pages (package web) beside the API. They pass through the same
// middleware; a page sets its own Content-Security-Policy and Cache-Control over the API's.
func (s *Server) webRoutes(r *gin.Engine) {
	invite, live := s.page("invite", s.pages.Invite), s.page("live", s.pages.Live)
	r.GET("/join/:id", invite)
	r.HEAD("/join/:id", invite)
	r.GET("/join/:id/web", live)
	r.HEAD("/join/:id/web", live)
	static := gin.WrapH(s.pages.Static())
	r.GET(web.StaticPrefix+"*file", static)
	r.HEAD(web.StaticPrefix+"*file", static)
}

// isPagePath: the request is for a browser page, whose errors are pages too.
func isPagePath(path string) bool { return strings.HasPrefix(path, "/join/") }

// pagePath renders a page of an invite link (web.Pages.Invite, web.Pages.Live).
type pagePath func(w http.ResponseWriter, r *http.Request, linkID string, transient func(error) bool) error

// page serves one invite-link page: the invite page behind every invite_link
// (<PUBLIC_URL>/join/<invite_link_id>) and the live page where someone without the app joins,
// votes and watches the tallies (/join/<invite_link_id>/web). The page has already written its
// error page; a database outage is logged at warn, any other failure at error and to Sentry.
func (s *Server) page(name string, render pagePath) gin.HandlerFunc {
	return func(c *gin.Context) {
		err := render(c.Writer, c.Request, c.Param("id"), sqlstore.Unavailable)
		switch {
		case err == nil:
		case sqlstore.Unavailable(err):
			s.logger(c).Warn(name+" page: database unavailable", zap.Error(err))
		default:
			s.logger(c).Error(name+" page failed", zap.Error(err))
			s.reportError(c, err)
		}
	}
}
