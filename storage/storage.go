// Package storage keeps uploaded files' bytes. The contract is Storage; local.go implements it
// on a directory. Metadata (owner, type, size) lives in the database, not here.
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned for an id that names no stored file.
var ErrNotFound = errors.New("storage: file not found")

// Info describes a stored file.
type Info struct {
	Size    int64
	ModTime time.Time
}

// Object is an open stored file; ServeContent reads it with seeks (ranges).
type Object interface {
	io.ReadSeekCloser
}

// Storage stores files by id. Put is all or nothing: when it returns an error (the reader's
// included) nothing is stored under the id, and a reader is never seen half-written.
type Storage interface {
	// Put stores everything r yields under id; ids are never overwritten.
	Put(ctx context.Context, id, contentType string, r io.Reader) (int64, error)
	Open(ctx context.Context, id string) (Object, Info, error)
	Stat(ctx context.Context, id string) (Info, error)
	Delete(ctx context.Context, id string) error
	// Ping checks the storage can be written now.
	Ping(ctx context.Context) error
}
