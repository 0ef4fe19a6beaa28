package server

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gin-gonic/gin"
)

func (s *Server) health(c *gin.Context) {
	status, code := "ok", http.StatusOK
	if s.draining.Load() {
		status, code = "draining", http.StatusServiceUnavailable
	}
	c.JSON(code, gin.H{"status": status, "timestamp": nowStamp(), "version": s.version, "environment": s.cfg.Env})
}

type serviceStatus struct {
	Status         string  `json:"status"`
	ResponseTimeMS float64 `json:"response_time_ms"`
	Error          string  `json:"error,omitempty"`
}

func check(ctx context.Context, fn func(context.Context) error) serviceStatus {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	st := serviceStatus{Status: "ok", ResponseTimeMS: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		st.Status, st.Error = "error", "unreachable"
	}
	return st
}

// storageWritable checks that uploads and the SQLite file can be written under DATA_DIR.
func (s *Server) storageWritable(context.Context) error {
	if err := os.MkdirAll(s.cfg.DataDir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.cfg.DataDir, ".health-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(filepath.Clean(name))
}

// storagePing checks DATA_DIR and the upload storage.
func (s *Server) storagePing(ctx context.Context) error {
	if err := s.storageWritable(ctx); err != nil {
		return err
	}
	if s.files == nil {
		return errors.New("no upload storage")
	}
	return s.files.Ping(ctx)
}

// checkDependencies checks what /health/detailed reports; redis is "disabled" without Redis.
func (s *Server) checkDependencies(ctx context.Context) map[string]serviceStatus {
	services := map[string]serviceStatus{"database": check(ctx, s.db.Ping), "storage": check(ctx, s.storagePing)}
	if s.redis != nil {
		services["redis"] = check(ctx, s.redis.Ping)
	} else {
		services["redis"] = serviceStatus{Status: "disabled"}
	}
	return services
}

// DependenciesUp is the health_dependency_up probe: each checked dependency, true when up
// (a disabled one is left out).
func (s *Server) DependenciesUp(ctx context.Context) map[string]bool {
	up := map[string]bool{}
	for name, st := range s.checkDependencies(ctx) {
		if st.Status != "disabled" {
			up[name] = st.Status == "ok"
		}
	}
	return up
}

func (s *Server) healthDetailed(c *gin.Context) {
	services := s.checkDependencies(c.Request.Context())
	healthy := true
	for _, st := range services {
		healthy = healthy && st.Status != "error"
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	status, code := "ok", http.StatusOK
	if !healthy {
		status, code = "error", http.StatusServiceUnavailable
	}
	if s.draining.Load() {
		status, code = "draining", http.StatusServiceUnavailable
	}
	c.JSON(code, gin.H{
		"status": status, "timestamp": nowStamp(), "services": services,
		"metrics": gin.H{"ws_connections": s.wsConns(), "goroutines": runtime.NumGoroutine(), "memory_bytes": mem.Sys},
	})
}
