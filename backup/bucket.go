package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"circly/config"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.uber.org/zap"
)

// bucket is the S3-compatible bucket and key prefix the backups live under.
type bucket struct {
	client *minio.Client
	name   string
	prefix string
	log    *zap.Logger
}

func openBucket(ctx context.Context, cfg config.Backup, log *zap.Logger) (*bucket, error) {
	client, err := minio.New(cfg.Host(), &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("BACKUP_S3_ENDPOINT: %w", err)
	}
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("reach bucket %q at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("BACKUP_S3_BUCKET: bucket %q does not exist at %s (create it first)", cfg.Bucket, cfg.Endpoint)
	}
	return &bucket{client: client, name: cfg.Bucket, prefix: cfg.Prefix, log: log}, nil
}

func (b *bucket) key(set, file string) string { return b.prefix + set + "/" + file }

// upload sends a local file and records its SHA-256 as object metadata too.
func (b *bucket) upload(ctx context.Context, set string, f File, path string) error {
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	key := b.key(set, f.Name)
	start := time.Now()
	_, err = b.client.PutObject(ctx, b.name, key, r, f.Size, minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{"sha256": f.SHA256},
		// The server checks each request's Content-MD5 and refuses a damaged body. The
		// streaming (aws-chunked) signature is off: not every S3-compatible server decodes it,
		// and the read-back below checks the whole object's SHA-256 anyway.
		SendContentMd5:       true,
		DisableContentSha256: true,
		Progress:             newProgress(b.log, "upload "+key, f.Size),
	})
	if err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	b.log.Info("uploaded", zap.String("key", key), zap.Int64("bytes", f.Size), zap.Duration("took", time.Since(start)))
	return nil
}

// download copies an object to w and returns its size and SHA-256, computed while reading.
func (b *bucket) download(ctx context.Context, set, file string, w io.Writer, limit int64) (File, error) {
	key := b.key(set, file)
	obj, err := b.client.GetObject(ctx, b.name, key, minio.GetObjectOptions{})
	if err != nil {
		return File{}, fmt.Errorf("download %s: %w", key, err)
	}
	defer obj.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h, newProgress(b.log, "download "+key, limit)), io.LimitReader(obj, limit+1))
	if err != nil {
		return File{}, fmt.Errorf("download %s: %w", key, err)
	}
	if n > limit {
		return File{}, fmt.Errorf("%w: %s is larger than the %d bytes expected", ErrChecksum, key, limit)
	}
	return File{Name: file, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// verify reads an uploaded object back and compares it with what was sent.
func (b *bucket) verify(ctx context.Context, set string, want File) error {
	got, err := b.download(ctx, set, want.Name, io.Discard, want.Size)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: %s read back as %d bytes sha256 %s, sent %d bytes sha256 %s",
			ErrChecksum, b.key(set, want.Name), got.Size, got.SHA256, want.Size, want.SHA256)
	}
	return nil
}

// sets lists the backup sets under the prefix, oldest first (names sort by time).
func (b *bucket) sets(ctx context.Context) ([]Set, error) {
	byName := map[string]*Set{}
	var order []string
	for obj := range b.client.ListObjects(ctx, b.name, minio.ListObjectsOptions{Prefix: b.prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", b.name, b.prefix, obj.Err)
		}
		name, file, ok := splitKey(obj.Key[len(b.prefix):])
		if !ok {
			continue // not ours
		}
		s := byName[name]
		if s == nil {
			at, _ := timeOf(name)
			s = &Set{Name: name, Time: at}
			byName[name] = s
			order = append(order, name)
		}
		s.keys = append(s.keys, obj.Key)
		s.Size += obj.Size
		if file == manifestName {
			s.Complete = true
		}
	}
	sort.Strings(order)
	out := make([]Set, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	return out, nil
}

// remove deletes every object of a set.
func (b *bucket) remove(ctx context.Context, s Set) error {
	var errs []error
	for _, k := range s.keys {
		if err := b.client.RemoveObject(ctx, b.name, k, minio.RemoveObjectOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}
