package backup

import (
	"time"

	"go.uber.org/zap"
)

// progress logs a long transfer every progressEvery; minio-go reads it as bytes go out, a
// download writes to it.
type progress struct {
	log   *zap.Logger
	what  string
	total int64
	done  int64
	last  time.Time
}

const progressEvery = 10 * time.Second

func newProgress(log *zap.Logger, what string, total int64) *progress {
	return &progress{log: log, what: what, total: total, last: time.Now()}
}

// Write counts bytes written (downloads).
func (p *progress) Write(b []byte) (int, error) { return p.Read(b) }

// Read counts bytes read (minio-go's upload hook).
func (p *progress) Read(b []byte) (int, error) {
	p.done += int64(len(b))
	if time.Since(p.last) >= progressEvery {
		p.last = time.Now()
		p.log.Info("transfer in progress", zap.String("what", p.what), zap.Int64("bytes", p.done), zap.Int64("of", p.total))
	}
	return len(b), nil
}
