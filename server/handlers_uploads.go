package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"circly"
	"circly/media"
	"circly/storage"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"
)

// uploadRoute is the one route whose body is multipart and may exceed MaxBodyBytes.
const uploadRoute = "/v1/uploads/images"

// uploadMargin is what the multipart framing and the small `type` field may add to the file.
const uploadMargin = 64 << 10

// uploadTimeout replaces the server's read and write timeouts (30 s, sized for JSON) on the
// upload route: 10 MiB from a phone on a slow network takes minutes, not seconds.
const uploadTimeout = 5 * time.Minute

// maxTypeField bounds the `type` form field.
const maxTypeField = 64

var errFileTooLarge = errors.New("file larger than MAX_FILE_SIZE")

// uploadBodyRules replaces bodyRules on the upload route: multipart/form-data only, and the body
// is cut off at MAX_FILE_SIZE plus a small margin while it is read (never buffered whole).
func (s *Server) uploadBodyRules(c *gin.Context) {
	r := c.Request
	limit := s.cfg.MaxFileSize + uploadMargin
	if r.ContentLength > limit {
		s.writeError(c, s.fileTooLarge())
		return
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, limit)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		s.writeError(c, circly.Errorf(circly.CodeUnsupportedMedia, "send the image as multipart/form-data"))
		return
	}
	// Best effort: a server without deadlines (tests) does not support them and needs none.
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(time.Now().Add(uploadTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(uploadTimeout + 30*time.Second))
	c.Next()
}

func (s *Server) fileTooLarge() error {
	return circly.Errorf(circly.CodePayloadTooLarge, "the file is larger than %d bytes", s.cfg.MaxFileSize).
		WithDetails(map[string]any{"field": "file", "max_bytes": s.cfg.MaxFileSize})
}

// uploadJSON is the answer to an upload.
type uploadJSON struct {
	FileID      string `json:"file_id"`
	URL         string `json:"url"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	Type        string `json:"type"`
	CreatedAt   string `json:"created_at"`
}

// uploadImage streams the `file` part to storage while checking it, then records it. The image
// is stored only once it validated, and removed again when anything after that fails.
func (s *Server) uploadImage(c *gin.Context) error {
	if s.files == nil {
		return circly.Errorf(circly.CodeUnavailable, "file storage is not available")
	}
	ctx := c.Request.Context()
	_, params, _ := mime.ParseMediaType(c.Request.Header.Get("Content-Type"))
	mr := multipart.NewReader(c.Request.Body, params["boundary"])
	var typ, fileID, contentType string
	var size int64
	seenType := false
	stored := false
	defer func() {
		if stored && fileID != "" {
			// Reached only on failure: success clears stored below.
			if err := s.files.Delete(context.WithoutCancel(ctx), fileID); err != nil {
				s.log.Warn("remove an abandoned upload", zap.String("file_id", fileID), zap.Error(err))
			}
		}
	}()
	for {
		part, err := mr.NextPart()
		if err == io.EOF { // a bare EOF is the closing boundary; a wrapped one, a broken body
			break
		}
		if err != nil {
			return s.uploadReadError(err)
		}
		switch part.FormName() {
		case "type":
			if seenType {
				return invalid("type", "send type once")
			}
			seenType = true
			b, err := io.ReadAll(io.LimitReader(part, maxTypeField+1))
			if err != nil {
				return s.uploadReadError(err)
			}
			typ = strings.TrimSpace(string(b))
			if !slices.Contains(circly.UploadTypes, typ) {
				return invalid("type", "type must be one of %s", strings.Join(circly.UploadTypes, ", "))
			}
		case "file":
			if fileID != "" {
				return invalid("file", "send one file per upload")
			}
			fileID = uuid.NewString()
			contentType, size, err = s.storeImage(ctx, fileID, part)
			if err != nil {
				return err
			}
			stored = true
		default:
			name := part.FormName()
			if name == "" {
				return circly.Errorf(circly.CodeInvalidFormat, "every part needs a form-data name")
			}
			return circly.Errorf(circly.CodeValidation, "unknown field %q; send file and type", name).
				WithDetails(map[string]any{"field": name})
		}
	}
	if !stored {
		return missing("file")
	}
	if !seenType {
		return missing("type")
	}
	u, err := s.app.CreateUpload(ctx, circly.Upload{ID: fileID, UserID: userID(c), Type: typ, ContentType: contentType, Size: size})
	if err != nil {
		return err
	}
	stored = false // it is the upload's now
	s.log.Info("image uploaded", zap.String("request_id", requestID(c)), zap.String("file_id", u.ID),
		zap.String("type", u.Type), zap.String("content_type", u.ContentType), zap.Int64("size", u.Size))
	ok(c, http.StatusCreated, uploadJSON{FileID: u.ID, URL: s.uploadURL(u.ID), Size: u.Size, ContentType: u.ContentType,
		Type: u.Type, CreatedAt: ts(u.CreatedAt)})
	return nil
}

func (s *Server) uploadURL(id string) string { return s.cfg.PublicURL + "/v1/uploads/" + id }

// storeImage decides the type by the first bytes, then streams the part to storage through
// the size limit and the image validator. Put sees the end of the stream only after the
// validator accepted the whole image, so an invalid file is never stored.
func (s *Server) storeImage(ctx context.Context, id string, part io.Reader) (string, int64, error) {
	br := bufio.NewReaderSize(part, 512)
	head, err := br.Peek(16)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", 0, s.uploadReadError(err)
	}
	if len(head) == 0 {
		return "", 0, invalid("file", "the file is empty")
	}
	ct := media.Sniff(head)
	if ct == "" || !slices.Contains(s.cfg.AllowedFileTypes, ct) {
		return "", 0, s.unsupportedImage()
	}
	v := newValidatingReader(ctx, &limitReader{r: br, left: s.cfg.MaxFileSize}, ct)
	size, err := s.files.Put(ctx, id, ct, v)
	v.finish(err)
	switch {
	case err == nil:
		return ct, size, nil
	case errors.Is(err, errFileTooLarge):
		return "", 0, s.fileTooLarge()
	case errors.Is(err, media.ErrUnsupported):
		return "", 0, s.unsupportedImage()
	case errors.Is(err, media.ErrTooManyPixels):
		return "", 0, circly.Errorf(circly.CodePayloadTooLarge, "the image has more than %d pixels", media.MaxPixels).
			WithDetails(map[string]any{"field": "file", "max_pixels": media.MaxPixels})
	case errors.Is(err, errFromClient):
		return "", 0, s.uploadReadError(err)
	}
	return "", 0, err
}

func (s *Server) unsupportedImage() error {
	return circly.Errorf(circly.CodeUnsupportedMedia, "the file must be a complete image of type %s",
		strings.Join(s.cfg.AllowedFileTypes, " or ")).WithDetails(map[string]any{"field": "file"})
}

// uploadReadError explains a failure to read the request body.
func (s *Server) uploadReadError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return s.fileTooLarge()
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return circly.Errorf(circly.CodeInvalidFormat, "the multipart body could not be read")
}

// serveUpload answers an image by id. No token is needed: the id is an unguessable random
// UUID and the URL goes into <img> tags and share cards. Images never change, so they are
// cached for a year.
func (s *Server) serveUpload(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	u, err := s.app.GetUpload(c.Request.Context(), id)
	if err != nil {
		if errors.Is(err, circly.ErrNotFound) {
			return circly.Errorf(circly.CodeNotFound, "no such file")
		}
		return err
	}
	if s.files == nil {
		return circly.Errorf(circly.CodeUnavailable, "file storage is not available")
	}
	f, info, err := s.files.Open(c.Request.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		s.log.Warn("upload row without a stored file", zap.String("file_id", id))
		return circly.Errorf(circly.CodeNotFound, "no such file")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	etag := `"` + u.ID + `"`
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", etag)
	h.Set("Last-Modified", u.CreatedAt.UTC().Format(http.TimeFormat))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	// The content behind an id never changes, so a matching ETag is all a cache needs. Whole
	// images only (no ranges): they are small, and a range error would not be the envelope.
	if inm := c.GetHeader("If-None-Match"); inm != "" && (strings.Contains(inm, etag) || strings.TrimSpace(inm) == "*") {
		c.Status(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", u.ContentType)
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	c.Status(http.StatusOK)
	if c.Request.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(c.Writer, f); err != nil {
		s.log.Debug("serve upload interrupted", zap.String("file_id", id), zap.Error(err))
	}
	return nil
}

// removeUploadsOf deletes a user's images: the rows first (the URLs stop working at once), then
// the files. A file that cannot be removed is logged and left unreachable.
func (s *Server) removeUploadsOf(ctx context.Context, userID string) error {
	ids, err := s.app.DeleteUploadsOf(ctx, userID)
	if err != nil {
		return err
	}
	s.deleteFiles(ctx, ids)
	return nil
}

// deleteFiles removes stored files whose rows are already gone; a failure is logged, never
// returned (the account they belonged to is deleted either way).
func (s *Server) deleteFiles(ctx context.Context, ids []string) {
	for _, id := range ids {
		if s.files == nil {
			break
		}
		if err := s.files.Delete(context.WithoutCancel(ctx), id); err != nil {
			s.log.Warn("remove a deleted account's upload", zap.String("file_id", id), zap.Error(err))
		}
	}
}
