package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testredis"
	"circly/internal/tests3"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestOffsiteBackupAndRestore: `circly backup` dumps a real PostgreSQL database and the uploaded
// images to an S3 server (s3rver, its own process on 127.0.0.1), the objects match the
// manifest's checksums, an expired backup goes and a recent one and foreign objects stay, the
// replicas export the backup's time, and `circly restore latest` into an empty database and an
// empty DATA_DIR brings back the results and the image (a newer partial upload is passed
// over). A changed object is refused.
func TestOffsiteBackupAndRestore(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (Debian: postgresql-client): %v", tool, err)
		}
	}
	s3 := tests3.New(t, "circly-backups")
	bucket, err := minio.New(strings.TrimPrefix(s3.URL, "http://"), &minio.Options{Creds: credentials.NewStaticV4(tests3.AccessKey, tests3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(key, body string) {
		t.Helper()
		if _, err := bucket.PutObject(ctx, s3.Bucket, key, strings.NewReader(body), int64(len(body)),
			minio.PutObjectOptions{SendContentMd5: true, DisableContentSha256: true}); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(key string) bool {
		_, err := bucket.StatObject(ctx, s3.Bucket, key, minio.StatObjectOptions{})
		return err == nil
	}
	read := func(key string) []byte {
		t.Helper()
		obj, err := bucket.GetObject(ctx, s3.Bucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		b, err := io.ReadAll(obj)
		if err != nil {
			t.Fatalf("read %s: %v", key, err)
		}
		return b
	}

	base := testdb.PostgresURL(t)
	redisURL := testredis.New(t).URL()
	suffix := strings.ToLower(strings.ReplaceAll(time.Now().UTC().Format("150405.000000"), ".", ""))
	src := createDatabase(t, base, "circly_offsite_src_"+suffix)
	dst := createDatabase(t, base, "circly_offsite_dst_"+suffix)
	bad := createDatabase(t, base, "circly_offsite_bad_"+suffix)
	secret := "e2e-offsite-secret-0123456789abcdef0123"

	// Data: a circle of four, a poll, three votes, an uploaded image.
	vars := distributedEnv(t, src, redisURL, secret)
	a := startServer(t, "source", vars)
	users := loginMany(t, "offsite", 4, a.URL)
	circleID := formCircle(t, a.URL, "Offsite class", users)["id"].(string)
	poll := must(t, 201, "POST", a.URL+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": circleID, "template_id": firstTemplate(t, a.URL, users[0].Token), "duration_hours": 1})
	opts, _ := optionsOf(t, poll)
	pollURL := a.URL + "/v1/polls/" + poll["id"].(string)
	for i, voter := range users[:3] {
		must(t, 201, "POST", pollURL+"/vote", voter.Token, map[string]any{"option_id": opts[(i+1)%len(opts)]})
	}
	before := must(t, 200, "GET", pollURL+"/results", users[1].Token, nil)
	imageBytes := pngImage(t)
	imagePath := uploadImage(t, a.URL, users[0].Token, imageBytes)

	// Already in the bucket: a backup past the 7-day retention, a recent one, and objects
	// that are not backups.
	expired := "circly/circly-20000101T000000Z"
	recent := "circly/circly-" + time.Now().UTC().Add(-3*24*time.Hour).Format("20060102T150405Z")
	for _, set := range []string{expired, recent} {
		put(set+"/db.dump", "old dump")
		put(set+"/manifest.json", `{}`)
	}
	// A newer set that never got its manifest (a run that died mid-upload): not a backup.
	partial := "circly/circly-" + time.Now().UTC().Add(time.Hour).Format("20060102T150405Z")
	put(partial+"/db.dump", "half a dump")
	put("circly/README.txt", "not a backup")
	put("elsewhere/circly-20000101T000000Z/db.dump", "another prefix")

	backupVars := map[string]string{
		"DATABASE_URL": src, "DATA_DIR": vars["DATA_DIR"], "ENV": "production", "LOG_FORMAT": "json",
		"BACKUP_S3_ENDPOINT": s3.URL, "BACKUP_S3_INSECURE": "true", "BACKUP_S3_BUCKET": s3.Bucket,
		"BACKUP_S3_ACCESS_KEY": tests3.AccessKey, "BACKUP_S3_SECRET_KEY": tests3.SecretKey,
	}
	// Settings missing or wrong are named before anything runs.
	noKeys := map[string]string{"DATABASE_URL": src, "ENV": "production"}
	if r := runCmd(t, noKeys, time.Minute, "backup"); r.Code == 0 || !strings.Contains(r.Stderr, "BACKUP_S3_BUCKET") {
		t.Errorf("backup without settings: exit %d, stderr %s", r.Code, r.Stderr)
	}
	wrongBucket := map[string]string{}
	for k, v := range backupVars {
		wrongBucket[k] = v
	}
	wrongBucket["BACKUP_S3_BUCKET"] = "no-such-bucket"
	if r := runCmd(t, wrongBucket, time.Minute, "backup"); r.Code == 0 || !strings.Contains(r.Stderr, "BACKUP_S3_BUCKET") {
		t.Errorf("backup to a missing bucket: exit %d, stderr %s", r.Code, r.Stderr)
	}

	started := time.Now().Add(-time.Second)
	res := runCmd(t, backupVars, 2*time.Minute, "backup")
	if res.Code != 0 {
		t.Fatalf("circly backup exited %d\nstdout:\n%s\nstderr:\n%s", res.Code, res.Stdout, res.Stderr)
	}
	m := regexp.MustCompile(`backup (circly-\d{8}T\d{6}Z): .* 1 images, verified; 1 expired deleted`).FindStringSubmatch(res.Stdout)
	if m == nil {
		t.Fatalf("backup output:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
	}
	name := m[1]
	for _, want := range []string{`"msg":"database dumped"`, `"msg":"uploaded"`, `"msg":"backup uploaded and verified"`, `"msg":"expired backup deleted"`} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("backup log lacks %s:\n%s", want, res.Stderr)
		}
	}

	// The manifest's checksums are those of the objects, as read from the server.
	var manifest struct {
		Files []struct {
			Name   string
			Size   int
			SHA256 string
		}
	}
	if err := json.Unmarshal(read("circly/"+name+"/manifest.json"), &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Files) != 2 {
		t.Fatalf("manifest lists %d files, want db.dump and uploads.tar.gz", len(manifest.Files))
	}
	for _, f := range manifest.Files {
		body := read("circly/" + name + "/" + f.Name)
		sum := sha256.Sum256(body)
		if len(body) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: %d bytes sha256 %x, manifest says %d bytes %s", f.Name, len(body), sum, f.Size, f.SHA256)
		}
	}
	if exists(expired+"/db.dump") || exists(expired+"/manifest.json") {
		t.Error("the backup past retention is still there")
	}
	for _, k := range []string{recent + "/db.dump", "circly/README.txt", "elsewhere/circly-20000101T000000Z/db.dump"} {
		if !exists(k) {
			t.Errorf("%s was deleted", k)
		}
	}

	// `backup list` shows both backups.
	list := runCmd(t, backupVars, time.Minute, "backup", "list")
	if list.Code != 0 || !strings.Contains(list.Stdout, name) || !strings.Contains(list.Stdout, strings.TrimPrefix(recent, "circly/")) ||
		!strings.Contains(list.Stdout, strings.TrimPrefix(partial, "circly/")+"  ") || !strings.Contains(list.Stdout, "partial") {
		t.Errorf("backup list (%d):\n%s\n%s", list.Code, list.Stdout, list.Stderr)
	}

	// The running replica exports the backup's time (its gauges job reads backup_runs).
	var exported float64
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) && exported < float64(started.Unix()) {
		exported = scrapeGauge(t, a.URL, "circly_backup_last_success_timestamp_seconds")
		time.Sleep(500 * time.Millisecond)
	}
	if exported < float64(started.Unix()) || exported > float64(time.Now().Unix()) {
		t.Errorf("circly_backup_last_success_timestamp_seconds = %.0f, want the backup's time (after %d)", exported, started.Unix())
	}
	a.kill()

	// Restore the latest into an empty database and an empty DATA_DIR.
	restoreVars := map[string]string{}
	for k, v := range backupVars {
		restoreVars[k] = v
	}
	restoreVars["DATABASE_URL"], restoreVars["DATA_DIR"] = dst, t.TempDir()
	res = runCmd(t, restoreVars, 2*time.Minute, "restore", "latest")
	if res.Code != 0 || !strings.Contains(res.Stdout, "restored "+name) {
		t.Fatalf("circly restore exited %d\nstdout:\n%s\nstderr:\n%s", res.Code, res.Stdout, res.Stderr)
	}
	// A second restore into the now full database is refused without --clean.
	if again := runCmd(t, restoreVars, time.Minute, "restore", name); again.Code == 0 || !strings.Contains(again.Stderr, "--clean") {
		t.Errorf("restore over a full database: exit %d\n%s", again.Code, again.Stderr)
	}

	// With --clean it replaces what is there.
	if again := runCmd(t, restoreVars, 2*time.Minute, "restore", name, "--clean"); again.Code != 0 {
		t.Errorf("restore --clean: exit %d\n%s", again.Code, again.Stderr)
	}

	restored := distributedEnv(t, dst, redisURL, secret)
	restored["AUTO_MIGRATE"], restored["DATA_DIR"] = "false", restoreVars["DATA_DIR"]
	b := startServer(t, "restored", restored)
	after := must(t, 200, "GET", b.URL+"/v1/polls/"+poll["id"].(string)+"/results", users[1].Token, nil)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("results differ after restore:\nbefore %v\nafter  %v", before, after)
	}
	resp, err := httpClient.Get(b.URL + imagePath)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, imageBytes) {
		t.Errorf("image after restore: %d, %d bytes (want %d identical bytes)", resp.StatusCode, len(got), len(imageBytes))
	}

	// A changed byte in the stored dump: restore refuses it and leaves the target empty.
	dump := read("circly/" + name + "/db.dump")
	dump[len(dump)/2] ^= 0xff
	put("circly/"+name+"/db.dump", string(dump))
	restoreVars["DATABASE_URL"], restoreVars["DATA_DIR"] = bad, t.TempDir()
	res = runCmd(t, restoreVars, 2*time.Minute, "restore", name)
	if res.Code == 0 || !strings.Contains(res.Stderr, "checksum mismatch") {
		t.Errorf("restore of a changed dump: exit %d, stderr:\n%s", res.Code, res.Stderr)
	}
	if entries, _ := os.ReadDir(restoreVars["DATA_DIR"]); len(entries) > 0 {
		t.Errorf("the refused restore wrote into DATA_DIR: %v", entries)
	}
	if n := countTables(t, bad); n != 0 {
		t.Errorf("the refused restore created %d tables", n)
	}
}

// pngImage is a small real PNG (uploads are judged by their bytes).
func pngImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 8 {
		img.Set(i, i, color.RGBA{R: 200, G: uint8(i * 30), B: 40, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// uploadImage posts an image and returns the path it is served at.
func uploadImage(t *testing.T, baseURL, token string, data []byte) string {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, _ := w.CreateFormFile("file", "card.png")
	_, _ = fw.Write(data)
	_ = w.WriteField("type", "result_card")
	_ = w.Close()
	req, _ := http.NewRequest("POST", baseURL+"/v1/uploads/images", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct{ URL string } `json:"data"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 && resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil || out.Data.URL == "" {
		t.Fatalf("upload: %d %s", resp.StatusCode, raw)
	}
	path := out.Data.URL
	if i := strings.Index(path, "/v1/"); i >= 0 {
		path = path[i:]
	}
	return path
}

// scrapeGauge reads one unlabelled sample from /metrics (-1 when absent).
func scrapeGauge(t *testing.T, baseURL, name string) float64 {
	t.Helper()
	resp, err := httpClient.Get(baseURL + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func countTables(t *testing.T, dbURL string) int {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
