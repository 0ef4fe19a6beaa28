package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"circly/config"
	"circly/internal/tests3"

	"github.com/minio/minio-go/v7"
	"go.uber.org/zap/zaptest"
)

// plainPut is how the tests write objects behind the backup's back (s3rver does not decode
// aws-chunked bodies; see bucket.upload).
var plainPut = minio.PutObjectOptions{SendContentMd5: true, DisableContentSha256: true}

func testBucket(t *testing.T) (*bucket, *tests3.Server) {
	t.Helper()
	srv := tests3.New(t, "circly-test")
	cfg := config.Backup{Endpoint: srv.URL, Bucket: srv.Bucket, AccessKey: tests3.AccessKey, SecretKey: tests3.SecretKey,
		Region: "us-east-1", Prefix: "prod/"}
	b, err := openBucket(context.Background(), cfg, zaptest.NewLogger(t))
	must(t, err)
	return b, srv
}

func fileOf(t *testing.T, dir, name string, body []byte) File {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(dir, name), body, 0o600))
	sum := sha256.Sum256(body)
	return File{Name: name, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
}

// Against a real S3 server process: an upload reads back with its checksum, a changed object
// is caught, sets are listed by name, and removing one set leaves other objects alone.
func TestBucketUploadVerifyList(t *testing.T) {
	ctx := context.Background()
	b, _ := testBucket(t)
	dir := t.TempDir()
	f := fileOf(t, dir, dumpName, bytes.Repeat([]byte("dump "), 100_000))
	old, cur := "circly-20261101T030000Z", "circly-20261207T030000Z"
	for _, set := range []string{old, cur} {
		must(t, b.upload(ctx, set, f, filepath.Join(dir, dumpName)))
		must(t, b.verify(ctx, set, f))
	}
	must(t, b.upload(ctx, cur, fileOf(t, dir, manifestName, []byte("{}")), filepath.Join(dir, manifestName)))
	info, err := b.client.StatObject(ctx, b.name, b.key(cur, dumpName), minio.StatObjectOptions{})
	must(t, err)
	if info.UserMetadata["Sha256"] != f.SHA256 {
		t.Errorf("object metadata = %v, want sha256 %s", info.UserMetadata, f.SHA256)
	}
	// Someone else's objects under and beside the prefix.
	for _, k := range []string{"prod/notes.txt", "other/circly-20200101T000000Z/db.dump"} {
		_, err := b.client.PutObject(ctx, b.name, k, strings.NewReader("x"), 1, plainPut)
		must(t, err)
	}

	sets, err := b.sets(ctx)
	must(t, err)
	if len(sets) != 2 || sets[0].Name != old || sets[0].Complete || sets[1].Name != cur || !sets[1].Complete {
		t.Fatalf("sets = %+v, want %s (partial) then %s (complete)", sets, old, cur)
	}

	// A changed byte is refused.
	bad := bytes.Repeat([]byte("dump "), 100_000)
	bad[12345] ^= 1
	_, err = b.client.PutObject(ctx, b.name, b.key(old, dumpName), bytes.NewReader(bad), int64(len(bad)), plainPut)
	must(t, err)
	if err := b.verify(ctx, old, f); !errors.Is(err, ErrChecksum) {
		t.Errorf("verify of a changed object: %v, want ErrChecksum", err)
	}

	must(t, b.remove(ctx, sets[0]))
	sets, err = b.sets(ctx)
	must(t, err)
	if len(sets) != 1 || sets[0].Name != cur {
		t.Fatalf("after removing %s: %+v", old, sets)
	}
	for _, k := range []string{"prod/notes.txt", "other/circly-20200101T000000Z/db.dump"} {
		if _, err := b.client.StatObject(ctx, b.name, k, minio.StatObjectOptions{}); err != nil {
			t.Errorf("foreign object %s: %v", k, err)
		}
	}
}

func TestMissingBucketIsNamed(t *testing.T) {
	srv := tests3.New(t, "circly-test")
	cfg := config.Backup{Endpoint: srv.URL, Bucket: "nope", AccessKey: tests3.AccessKey, SecretKey: tests3.SecretKey, Region: "us-east-1"}
	_, err := openBucket(context.Background(), cfg, zaptest.NewLogger(t))
	if err == nil || !strings.Contains(err.Error(), "BACKUP_S3_BUCKET") {
		t.Fatalf("err %v, want one naming BACKUP_S3_BUCKET", err)
	}
}
