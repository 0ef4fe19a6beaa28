// Package server is Circly's HTTP face: the Gin router, middleware, handlers and the error
// envelope. Nothing imports it but cmd/circly and tests.
package server

import (
	"circly"

	"context"
	"net/http"
	"sync/atomic"
	"time"

	"circly/auth"
	"circly/config"
	"circly/hub"
	"circly/metrics"
	"circly/ratelimit"
	"circly/revoked"
	"circly/storage"
	"circly/web"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
)

// Pinger is a dependency /health/detailed can check.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the parts the server is built from; cmd/circly wires them.
type Deps struct {
	Config  config.Config
	App     App // the handlers' only door to the data (app.Service)
	Tokens  *auth.Tokens
	Log     *zap.Logger
	DB      Pinger
	Redis   Pinger // nil in embedded mode
	Version string
	// WSConnections reports live WebSocket connections (nil until the hub exists).
	WSConnections func() int
	// Limiter holds the rate-limit budgets (nil: in memory, for one replica).
	Limiter ratelimit.Limiter
	// Hub serves /v1/ws and /v1/polls/{id}/live (nil: they answer 503).
	Hub *hub.Hub
	// Revoked lists accounts deleted through any replica (the hub marks them); tokens of those
	// are refused before the existence check would notice. Nil: a list nobody marks.
	Revoked *revoked.Accounts
	// Storage keeps uploaded images (nil: local disk under DATA_DIR/uploads).
	Storage storage.Storage
	// Operators checks operator tokens (nil: derived from SECRET_KEY, as `circly admin token` does).
	Operators *auth.Operators
	// Admin serves the admin API (nil: App, when it implements Admin).
	Admin Admin
}

// Server holds the handlers' dependencies.
type Server struct {
	cfg      config.Config
	app      App
	tokens   *auth.Tokens
	log      *zap.Logger
	db       Pinger
	redis    Pinger
	version  string
	wsConns  func() int
	files    storage.Storage // nil when the upload directory could not be made
	users    *liveUsers
	hub      *hub.Hub
	revoked  *revoked.Accounts
	draining atomic.Bool
	engine   *gin.Engine
	limiter  *rateLimiter
	pages    *web.Pages

	operators *auth.Operators
	admin     Admin // nil: the admin API answers 503
}

// New builds the server and its routes.
func New(d Deps) *Server {
	s := &Server{
		cfg: d.Config, tokens: d.Tokens, log: d.Log, db: d.DB, redis: d.Redis,
		version: d.Version, wsConns: d.WSConnections, hub: d.Hub, revoked: d.Revoked,
	}
	if s.wsConns == nil && s.hub != nil {
		s.wsConns = s.hub.Connections
	}
	if s.revoked == nil {
		s.revoked = &revoked.Accounts{}
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.wsConns == nil {
		s.wsConns = func() int { return 0 }
	}
	s.files = d.Storage
	if s.files == nil {
		s.files = s.localStorage()
	}
	s.app = d.App
	s.operators, s.admin = d.Operators, d.Admin
	if s.operators == nil {
		s.operators = auth.NewOperators(s.cfg.SecretKey)
	}
	if a, ok := d.App.(Admin); ok && s.admin == nil {
		s.admin = a
	}
	s.users = newLiveUsers(s.app, s.log, time.Minute)
	s.limiter = &rateLimiter{l: d.Limiter}
	if s.limiter.l == nil {
		s.limiter.l = ratelimit.NewMemory()
	}
	pages, err := web.New(s.app, s.cfg.PublicURL)
	if err != nil {
		panic(err) // the templates are embedded: a broken one fails every test that builds a server
	}
	s.pages = pages
	s.engine = s.routes()
	initRouteMetrics(s.engine)
	return s
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.engine }

// Close writes the user activity still queued and stops its writer (see liveUsers); call it
// after the HTTP server has shut down.
func (s *Server) Close() { s.users.stop() }

// StartDraining makes /health answer 503 so the load balancer stops sending traffic.
func (s *Server) StartDraining() { s.draining.Store(true) }

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.ContextWithFallback = true
	_ = r.SetTrustedProxies(s.cfg.TrustedProxies)
	r.Use(httpMetrics, s.requestIDMiddleware, tracing, s.accessLog, s.recovery, securityHeaders(s.cfg.Env),
		s.cors(s.cfg.CORSAllowedOrigins), s.rateLimit)
	r.NoRoute(s.h(func(c *gin.Context) error {
		// The path is not echoed: decoded, it is whatever the client smuggled in (`..%2f..`).
		return circly.Errorf(circly.CodeNotFound, "no route serves this method and path")
	}))
	r.NoMethod(s.h(func(c *gin.Context) error {
		return circly.Errorf(circly.CodeMethodNotAllowed, "method %s is not allowed here", c.Request.Method)
	}))

	r.GET("/health", s.health)
	r.GET("/health/detailed", s.healthDetailed)
	if s.cfg.MetricsAddr == "" { // otherwise cmd/circly serves it on its own listener
		r.GET("/metrics", gin.WrapH(metrics.Handler()))
	}

	s.webRoutes(r)

	v1 := r.Group("/v1", s.bodyRules)
	v1.POST("/auth/device-login", s.h(s.deviceLogin))
	v1.POST("/auth/refresh", s.h(s.refresh))
	v1.GET("/openapi.json", s.openAPI)
	// Live updates authenticate by header or by their first frame, so they sit outside requireAuth.
	v1.GET("/ws", s.h(s.ws))
	v1.GET("/polls/:id/live", s.h(s.pollLive))

	s.adminRoutes(v1) // operator tokens only: admin.go

	a := v1.Group("", s.requireAuth)
	a.GET("/users/me", s.h(s.getMe))
	a.PUT("/users/me", s.h(s.updateMe))
	a.DELETE("/users/me", s.h(s.deleteMe))

	a.POST("/circles", s.h(s.createCircle))
	a.GET("/circles", s.h(s.listCircles))
	a.POST("/circles/join", s.h(s.joinCircle))
	a.GET("/circles/:id", s.h(s.getCircle))
	a.PUT("/circles/:id", s.h(s.updateCircle))
	a.DELETE("/circles/:id", s.h(s.deleteCircle))
	a.POST("/circles/:id/regenerate-invite", s.h(s.regenerateInvite))
	a.POST("/circles/:id/leave", s.h(s.leaveCircle))
	a.DELETE("/circles/:id/members/:member_id", s.h(s.removeMember))

	a.GET("/templates", s.h(s.listTemplates))
	a.GET("/templates/popular", s.h(s.popularTemplates))
	a.GET("/templates/:id", s.h(s.getTemplate))

	a.POST("/polls", s.h(s.createPoll))
	a.GET("/polls", s.h(s.listPolls))
	a.GET("/polls/:id", s.h(s.getPoll))
	a.PUT("/polls/:id", s.h(s.updatePoll))
	a.DELETE("/polls/:id", s.h(s.deletePoll))
	a.POST("/polls/:id/vote", s.h(s.vote))
	a.GET("/polls/:id/results", s.h(s.results))

	a.POST("/reports", s.h(s.createReport))
	a.GET("/reports/my", s.h(s.myReports))
	a.GET("/stats/user", s.h(s.userStats))
	a.GET("/stats/circles/:id", s.h(s.circleStats))
	a.POST("/uploads/images", s.h(s.uploadImage)) // body rules: uploadBodyRules
	v1.GET("/uploads/:id", s.h(s.serveUpload))    // no token: see serveUpload
	v1.HEAD("/uploads/:id", s.h(s.serveUpload))
	a.GET("/notifications", s.h(s.listNotifications))
	a.PUT("/notifications/read-all", s.h(s.readAllNotifications))
	a.GET("/notifications/settings", s.h(s.getNotificationSettings))
	a.PUT("/notifications/settings", s.h(s.updateNotificationSettings))
	a.PUT("/notifications/:id/read", s.h(s.readNotification))
	return r
}
