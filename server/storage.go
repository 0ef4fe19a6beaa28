package server

import (
	"path/filepath"

	"circly/storage"

	"go.uber.org/zap"
)

// localStorage is the default upload storage: DATA_DIR/uploads. When the directory cannot be
// made the server still starts; uploads answer 503 and /health/detailed reports storage down.
func (s *Server) localStorage() storage.Storage {
	l, err := storage.NewLocal(filepath.Join(s.cfg.DataDir, "uploads"))
	if err != nil {
		s.log.Error("upload storage unavailable", zap.Error(err))
		return nil
	}
	return l
}
