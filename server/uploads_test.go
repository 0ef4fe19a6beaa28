package server_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"circly/config"
	"circly/internal/testdb"
)

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 90, 255})
		}
	}
	return img
}

func pngFile(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, testImage()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegFile(t testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// formPart is one part of a multipart upload.
type formPart struct {
	name, filename, contentType string
	data                        []byte
}

// multipartBody encodes parts; it returns the body and its Content-Type.
func multipartBody(t testing.TB, parts ...formPart) ([]byte, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.filename != "" {
			disp += fmt.Sprintf(`; filename=%q`, p.filename)
		}
		h.Set("Content-Disposition", disp)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pw.Write(p.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), w.FormDataContentType()
}

func fileAndType(filename, contentType string, data []byte, typ string) []formPart {
	return []formPart{{name: "file", filename: filename, contentType: contentType, data: data}, {name: "type", data: []byte(typ)}}
}

// upload posts a multipart body.
func (e *env) upload(token string, parts ...formPart) resp {
	e.t.Helper()
	body, ct := multipartBody(e.t, parts...)
	return e.request("POST", "/v1/uploads/images", token, bytes.NewReader(body), "Content-Type", ct)
}

// uploadDir lists the upload directory, temporary files included.
func (e *env) uploadDir() []string {
	e.t.Helper()
	es, err := os.ReadDir(filepath.Join(e.cfg.DataDir, "uploads"))
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, x := range es {
		names = append(names, x.Name())
	}
	return names
}

func (e *env) uploadRows() int64 {
	e.t.Helper()
	var n int64
	if err := e.db.Gorm.Raw(`SELECT count(*) FROM uploads`).Scan(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestUploadImageAndServeIt(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		u := e.login()
		img := pngFile(t)
		d := e.must(201, e.upload(u.Token, fileAndType("card.png", "image/png", img, "result_card")...))
		id, _ := d["file_id"].(string)
		if d["content_type"] != "image/png" || num(t, d["size"]) != float64(len(img)) || d["type"] != "result_card" ||
			d["url"] != e.cfg.PublicURL+"/v1/uploads/"+id {
			t.Fatalf("upload = %v", d)
		}
		if names := e.uploadDir(); len(names) != 1 || names[0] != id {
			t.Fatalf("upload directory holds %v, want only %s", names, id)
		}

		// Served without a token, byte for byte, with the stored type and cache headers.
		res, err := http.Get(e.srv.URL + "/v1/uploads/" + id)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		h := res.Header
		if res.StatusCode != 200 || !bytes.Equal(got, img) || h.Get("Content-Type") != "image/png" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
			h.Get("ETag") != `"`+id+`"` {
			t.Fatalf("serve: %d %d bytes, headers %v", res.StatusCode, len(got), h)
		}
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/uploads/"+id, nil)
		req.Header.Set("If-None-Match", `"`+id+`"`)
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusNotModified {
			t.Fatalf("If-None-Match: %d, want 304", res.StatusCode)
		}
		res, err = http.Head(e.srv.URL + "/v1/uploads/" + id)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != 200 || res.ContentLength != int64(len(img)) || res.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("HEAD: %d, length %d, type %q", res.StatusCode, res.ContentLength, res.Header.Get("Content-Type"))
		}
		e.fail(404, "NOT_FOUND", e.request("GET", "/v1/uploads/"+unknownID, "", nil))
		e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/uploads/not-a-uuid", "", nil))

		// A PNG named .jpg and labeled image/jpeg is judged by its bytes.
		d = e.must(201, e.upload(u.Token, fileAndType("photo.jpg", "image/jpeg", img, "profile_image")...))
		if d["content_type"] != "image/png" {
			t.Fatalf("png named .jpg stored as %v", d["content_type"])
		}
		// A JPEG with no declared type at all; type first, then file.
		j := jpegFile(t)
		d = e.must(201, e.upload(u.Token, formPart{name: "type", data: []byte("profile_image")}, formPart{name: "file", filename: "x", data: j}))
		if d["content_type"] != "image/jpeg" || num(t, d["size"]) != float64(len(j)) {
			t.Fatalf("jpeg upload = %v", d)
		}
		if n := e.uploadRows(); n != 3 {
			t.Fatalf("%d upload rows, want 3", n)
		}
	})
}

// TestDeletedAccountTakesItsImages: deleting the account removes its images and their URLs.
func TestDeletedAccountTakesItsImages(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		u, other := e.login(), e.login()
		mine := e.must(201, e.upload(u.Token, fileAndType("a.png", "image/png", pngFile(t), "profile_image")...))
		theirs := e.must(201, e.upload(other.Token, fileAndType("a.png", "image/png", pngFile(t), "profile_image")...))
		e.must(200, e.request("DELETE", "/v1/users/me", u.Token, nil))
		e.fail(404, "NOT_FOUND", e.request("GET", "/v1/uploads/"+mine["file_id"].(string), "", nil))
		if r := e.request("GET", "/v1/uploads/"+theirs["file_id"].(string), "", nil); r.Status != 200 {
			t.Fatalf("another user's image: %d", r.Status)
		}
		if names := e.uploadDir(); len(names) != 1 || names[0] != theirs["file_id"] {
			t.Fatalf("upload directory holds %v, want only %v", names, theirs["file_id"])
		}
	})
}

// TestUploadRejects: every bad upload answers its error and leaves no file and no row.
func TestUploadRejects(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		u := e.login()
		img := pngFile(t)
		html := []byte("<html><body><script>alert(document.cookie)</script></body></html>")
		polyglot := append([]byte("\x89PNG\r\n\x1a\n"), html...)
		svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>`)
		cases := []struct {
			name   string
			parts  []formPart
			status int
			code   string
			field  string
		}{
			{"truncated png", fileAndType("a.png", "image/png", img[:len(img)/2], "result_card"), 415, "UNSUPPORTED_MEDIA_TYPE", "file"},
			{"truncated jpeg", fileAndType("a.jpg", "image/jpeg", jpegFile(t)[:600], "result_card"), 415, "UNSUPPORTED_MEDIA_TYPE", "file"},
			{"polyglot", fileAndType("a.png", "image/png", polyglot, "result_card"), 415, "UNSUPPORTED_MEDIA_TYPE", "file"},
			{"png with html behind", fileAndType("a.png", "image/png", append(append([]byte(nil), img...), html...), "result_card"), 415, "UNSUPPORTED_MEDIA_TYPE", "file"},
			{"svg as png", fileAndType("a.png", "image/png", svg, "result_card"), 415, "UNSUPPORTED_MEDIA_TYPE", "file"},
			{"html as jpeg", fileAndType("a.jpg", "image/jpeg", html, "result_card"), 415, "UNSUPPORTED_MEDIA_TYPE", "file"},
			{"gif", fileAndType("a.gif", "image/gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "result_card"), 415, "UNSUPPORTED_MEDIA_TYPE", "file"},
			{"empty file", fileAndType("a.png", "image/png", nil, "result_card"), 400, "VALIDATION_ERROR", "file"},
			{"wrong field name", []formPart{{name: "image", filename: "a.png", data: img}, {name: "type", data: []byte("result_card")}}, 400, "VALIDATION_ERROR", "image"},
			{"no file", []formPart{{name: "type", data: []byte("result_card")}}, 400, "MISSING_REQUIRED_FIELD", "file"},
			{"no type", []formPart{{name: "file", filename: "a.png", data: img}}, 400, "MISSING_REQUIRED_FIELD", "type"},
			{"bad type after the file", fileAndType("a.png", "image/png", img, "avatar"), 400, "VALIDATION_ERROR", "type"},
			{"two files", []formPart{{name: "file", data: img}, {name: "file", data: img}, {name: "type", data: []byte("result_card")}}, 400, "VALIDATION_ERROR", "file"},
		}
		for _, c := range cases {
			errObj := e.fail(c.status, c.code, e.upload(u.Token, c.parts...))
			if details, _ := errObj["details"].(map[string]any); details["field"] != c.field {
				t.Fatalf("%s: details %v, want field %s", c.name, errObj["details"], c.field)
			}
			if names := e.uploadDir(); len(names) != 0 {
				t.Fatalf("%s: upload directory holds %v", c.name, names)
			}
		}
		if n := e.uploadRows(); n != 0 {
			t.Fatalf("%d upload rows after rejected uploads", n)
		}
		body, ct := multipartBody(t, fileAndType("a.png", "image/png", img, "result_card")...)
		e.fail(401, "UNAUTHORIZED", e.request("POST", "/v1/uploads/images", "", bytes.NewReader(body), "Content-Type", ct))
		e.fail(415, "UNSUPPORTED_MEDIA_TYPE", e.request("POST", "/v1/uploads/images", u.Token, bytes.NewReader(body)))
		e.fail(415, "UNSUPPORTED_MEDIA_TYPE", e.request("POST", "/v1/uploads/images", u.Token, bytes.NewReader(body), "Content-Type", "multipart/form-data"))
		e.fail(400, "INVALID_FORMAT", e.request("POST", "/v1/uploads/images", u.Token, "not multipart at all", "Content-Type", ct))
		// Only the upload route takes multipart; JSON routes keep their 1 MiB JSON rules.
		e.fail(415, "UNSUPPORTED_MEDIA_TYPE", e.request("POST", "/v1/reports", u.Token, bytes.NewReader(body), "Content-Type", ct))
	})
}

// TestUploadTooManyPixels: a small file whose header announces a huge picture is refused
// before it is decoded.
func TestUploadTooManyPixels(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	img := pngFile(t)
	binary.BigEndian.PutUint32(img[16:], 60000) // IHDR width and height, then its CRC
	binary.BigEndian.PutUint32(img[20:], 60000)
	binary.BigEndian.PutUint32(img[29:], crc32.ChecksumIEEE(img[12:29]))
	errObj := e.fail(413, "PAYLOAD_TOO_LARGE", e.upload(e.login().Token, fileAndType("a.png", "image/png", img, "result_card")...))
	if d, _ := errObj["details"].(map[string]any); d["max_pixels"] == nil {
		t.Fatalf("details %v", errObj["details"])
	}
	if names := e.uploadDir(); len(names) != 0 {
		t.Fatalf("upload directory holds %v", names)
	}
}

// TestUploadTypesFromConfig: ALLOWED_FILE_TYPES narrows what is taken.
func TestUploadTypesFromConfig(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0], withConfig(func(c *config.Config) { c.AllowedFileTypes = []string{"image/jpeg"} }))
	u := e.login()
	e.fail(415, "UNSUPPORTED_MEDIA_TYPE", e.upload(u.Token, fileAndType("a.png", "image/png", pngFile(t), "result_card")...))
	e.must(201, e.upload(u.Token, fileAndType("a.jpg", "image/jpeg", jpegFile(t), "result_card")...))
}

// endlessPNG is the start of a PNG (signature, header) followed by an ancillary chunk that
// claims 2 GiB: a decoder keeps reading it, so only the size limit can stop the upload.
func endlessPNG(t testing.TB) []byte {
	img := pngFile(t)
	head := append([]byte(nil), img[:33]...) // signature + IHDR chunk
	chunk := make([]byte, 8)
	binary.BigEndian.PutUint32(chunk, 0x7fffffff)
	copy(chunk[4:], "zzZz")
	return append(head, chunk...)
}

// countingReader yields n zero bytes and counts what was read.
type countingReader struct {
	left int64
	read atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), c.left))
	clear(p[:n])
	c.left -= int64(n)
	c.read.Add(int64(n))
	return n, nil
}

// TestUploadTooLargeIsCutOff streams a 50 MiB body (chunked, so the server cannot know its
// size up front) and checks the answer is 413 and the server stopped reading near
// MAX_FILE_SIZE; a declared Content-Length over the limit is refused before any reading.
func TestUploadTooLargeIsCutOff(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	const total = 50 << 20
	limit := e.cfg.MaxFileSize
	var prefix bytes.Buffer
	w := multipart.NewWriter(&prefix)
	pw, err := w.CreateFormFile("file", "big.png")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = pw.Write(endlessPNG(t))
	ct := w.FormDataContentType()

	for _, declared := range []bool{false, true} {
		zeros := &countingReader{left: total}
		body := io.MultiReader(bytes.NewReader(prefix.Bytes()), zeros)
		req, err := http.NewRequest("POST", e.srv.URL+"/v1/uploads/images", body)
		if err != nil {
			t.Fatal(err)
		}
		if declared {
			req.ContentLength = int64(prefix.Len()) + total
		}
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+u.Token)
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatalf("declared=%v: %v (after %d bytes)", declared, err, zeros.read.Load())
		}
		raw, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		var out resp
		out.Status, out.Header, out.Raw = res.StatusCode, res.Header, raw
		_ = json.Unmarshal(raw, &out.Body)
		e.fail(413, "PAYLOAD_TOO_LARGE", out)
		sent := zeros.read.Load()
		// Socket buffers let the client get a few MiB ahead of what the server read.
		if most := limit + 8<<20; sent > most {
			t.Fatalf("declared=%v: the client wrote %d bytes before the answer; the server should stop near %d", declared, sent, limit)
		}
		if declared && sent > 8<<20 {
			t.Fatalf("declared too large: %d bytes written, want the answer before reading", sent)
		}
		t.Logf("declared=%v: client wrote %d MiB of 50 before the 413", declared, sent>>20)
	}
	if names := e.uploadDir(); len(names) != 0 {
		t.Fatalf("upload directory holds %v", names)
	}
}

// TestUploadHealth: /health/detailed reports the upload storage.
func TestUploadHealth(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	r := e.request("GET", "/health/detailed", "", nil)
	st, _ := r.Body["services"].(map[string]any)["storage"].(map[string]any)
	if r.Status != 200 || st["status"] != "ok" {
		t.Fatalf("health %d %s", r.Status, r.Raw)
	}
	// A file where the directory was: nothing can be written there, even by root.
	dir := filepath.Join(e.cfg.DataDir, "uploads")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.request("GET", "/health/detailed", "", nil)
	st, _ = r.Body["services"].(map[string]any)["storage"].(map[string]any)
	if r.Status != 503 || st["status"] != "error" {
		t.Fatalf("health with a read-only upload directory: %d %s", r.Status, r.Raw)
	}
}

// TestUploadAbortedLeavesNothing: a client that hangs up halfway leaves no file behind, not
// even a temporary one.
func TestUploadAbortedLeavesNothing(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	body, ct := multipartBody(t, fileAndType("a.png", "image/png", append(endlessPNG(t), make([]byte, 256<<10)...), "result_card")...)
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() // a failure must not leave the server waiting out its upload timeout
	fmt.Fprintf(conn, "POST /v1/uploads/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		u.Token, ct, len(body)+(1<<20))
	// Half the body ends inside the file's bytes: the part is still open when the client goes.
	if _, err := conn.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	// Wait until the server has begun writing the file, then hang up (generous: CI is busy).
	deadline := time.Now().Add(30 * time.Second)
	for len(e.uploadDir()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(e.uploadDir()) == 0 {
		t.Fatal("the server never started storing the upload")
	}
	_ = conn.Close()
	for len(e.uploadDir()) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if names := e.uploadDir(); len(names) != 0 {
		t.Fatalf("upload directory holds %v after the client hung up", names)
	}
	if n := e.uploadRows(); n != 0 {
		t.Fatalf("%d upload rows", n)
	}
}

// TestUploadsInParallel: uploads at once each get their own file, and the bad ones among
// them leave nothing.
func TestUploadsInParallel(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	const n = 16
	type result struct {
		status int
		id     string
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			data := pngFile(t)
			if i%2 == 1 {
				data = data[:len(data)-20] // truncated
			}
			body, ct := multipartBody(t, fileAndType("a.png", "image/png", data, "result_card")...)
			r, err := e.send("POST", "/v1/uploads/images", u.Token, bytes.NewReader(body), "Content-Type", ct)
			if err != nil {
				results <- result{status: -1}
				return
			}
			id, _ := r.Data()["file_id"].(string)
			results <- result{r.Status, id}
		}()
	}
	ids := map[string]bool{}
	for range n {
		r := <-results
		switch r.status {
		case 201:
			ids[r.id] = true
		case 415:
		default:
			t.Fatalf("status %d", r.status)
		}
	}
	if len(ids) != n/2 {
		t.Fatalf("%d distinct stored files, want %d", len(ids), n/2)
	}
	names := e.uploadDir()
	if len(names) != n/2 {
		t.Fatalf("upload directory holds %d entries, want %d", len(names), n/2)
	}
	for _, name := range names {
		if !ids[name] {
			t.Fatalf("stray file %s", name)
		}
	}
}

// slowReader hands out data in small pieces with pauses, like a phone on a bad network.
type slowReader struct {
	data  []byte
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	n := copy(p[:min(len(p), 512)], s.data)
	s.data = s.data[n:]
	return n, nil
}

// TestSlowUploadOutlivesServerReadTimeout: the upload route lifts the server's read timeout
// (sized for JSON requests), so a slow but steady upload completes.
func TestSlowUploadOutlivesServerReadTimeout(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	srv := httptest.NewUnstartedServer(e.server.Handler())
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	body, ct := multipartBody(t, fileAndType("a.png", "image/png", pngFile(t), "result_card")...)
	pause := time.Second / time.Duration(len(body)/512+1) // about a second in all
	req, _ := http.NewRequest("POST", srv.URL+"/v1/uploads/images", &slowReader{data: body, pause: pause})
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+u.Token)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("slow upload: %d %s", res.StatusCode, raw)
	}
}
