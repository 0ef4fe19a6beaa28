package server

import (
	"context"
	"errors"
	"io"

	"circly/media"
)

// The readers an upload streams through on its way to storage.

// errFromClient marks failures reading the request (as opposed to writing storage).
var errFromClient = errors.New("reading the upload")

type clientReadError struct{ err error }

func (e clientReadError) Error() string        { return "reading the upload: " + e.err.Error() }
func (e clientReadError) Unwrap() []error      { return []error{errFromClient, e.err} }
func (e clientReadError) Is(target error) bool { return target == errFromClient }

// limitReader fails with errFileTooLarge once more than left bytes come through.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		return 0, errFileTooLarge
	}
	l.left -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		err = clientReadError{err}
	}
	return n, err
}

// validatingReader passes a stream through while media.Validate reads a copy of it on another
// goroutine. It reports EOF only after the validator accepted the stream; a validator failure
// surfaces as the error of the next read.
type validatingReader struct {
	tee  io.Reader
	pw   *io.PipeWriter
	done chan error
	over bool
}

func newValidatingReader(ctx context.Context, src io.Reader, contentType string) *validatingReader {
	pr, pw := io.Pipe()
	v := &validatingReader{tee: io.TeeReader(src, pw), pw: pw, done: make(chan error, 1)}
	go func() {
		err := media.Validate(ctx, pr, contentType)
		if err != nil {
			pr.CloseWithError(err) // the writer's next write fails with it
		} else {
			pr.Close()
		}
		v.done <- err
	}()
	return v
}

func (v *validatingReader) Read(p []byte) (int, error) {
	n, err := v.tee.Read(p)
	if errors.Is(err, io.EOF) {
		_ = v.pw.Close()
		v.over = true
		if verr := <-v.done; verr != nil {
			return n, verr
		}
		return n, io.EOF
	}
	return n, err
}

// finish stops the validator when the copy ended early, and waits for it.
func (v *validatingReader) finish(err error) {
	if v.over {
		return
	}
	if err == nil {
		err = errors.New("upload ended")
	}
	_ = v.pw.CloseWithError(err)
	<-v.done //nolint:errcheck // the validator's verdict no longer matters: the upload failed already
	v.over = true
}
