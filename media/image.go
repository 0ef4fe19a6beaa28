// Package media decides what an uploaded file is from its bytes and checks that it is a whole,
// well-formed image. It reads a stream once and holds at most the image's header in memory
// besides the decoded picture.
package media

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"runtime"
)

// Content types this package understands.
const (
	PNG  = "image/png"
	JPEG = "image/jpeg"
)

// Errors of Validate.
var (
	// ErrUnsupported: not a complete PNG or JPEG image (another format, HTML, SVG, a polyglot,
	// a truncated file, or bytes after the image's end).
	ErrUnsupported = errors.New("not a complete PNG or JPEG image")
	// ErrTooManyPixels: a valid header announcing a picture larger than MaxPixels.
	ErrTooManyPixels = errors.New("the image has too many pixels")
)

// MaxPixels bounds the pictures Validate decodes (4096 × 4096): a small file may announce a
// huge picture, and decoding allocates it whole.
const MaxPixels = 4096 * 4096

// maxHeader bounds the bytes read before the image's size is known (JPEG metadata segments
// come first and may be long).
const maxHeader = 1 << 20

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
	// pngEnd is the IEND chunk: length 0, type, CRC. Nothing may follow it.
	pngEnd = []byte{0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82}
	// jpegEnd is the EOI marker.
	jpegEnd = []byte{0xFF, 0xD9}
)

// Sniff names the content type the first bytes announce, or "" for anything but PNG and JPEG.
func Sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, pngMagic):
		return PNG
	case bytes.HasPrefix(head, jpegMagic):
		return JPEG
	}
	return ""
}

// decodeSlots bounds how many pictures are decoded at once, and so the memory they take.
var decodeSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// Validate reads r to its end and returns nil only when it holds exactly one complete image of
// contentType (as Sniff named it): the header parses, the size is within MaxPixels, the whole
// picture decodes, and the stream ends with the format's end marker. It always consumes r up
// to EOF or the first error.
func Validate(ctx context.Context, r io.Reader, contentType string) error {
	var decodeConfig func(io.Reader) (image.Config, error)
	var decode func(io.Reader) (image.Image, error)
	var end []byte
	switch contentType {
	case PNG:
		decodeConfig, decode, end = png.DecodeConfig, png.Decode, pngEnd
	case JPEG:
		decodeConfig, decode, end = jpeg.DecodeConfig, jpeg.Decode, jpegEnd
	default:
		return ErrUnsupported
	}
	tail := &tailWriter{n: len(end)}
	counted := io.TeeReader(r, tail)

	// Read the header once, keeping its bytes to replay them to the full decoder.
	head := &cappedBuffer{max: maxHeader}
	cfg, err := decodeConfig(io.TeeReader(counted, head))
	if err != nil || head.over {
		return ErrUnsupported
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return ErrUnsupported
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return ErrTooManyPixels
	}
	select {
	case decodeSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	_, err = decode(io.MultiReader(bytes.NewReader(head.Bytes()), counted))
	<-decodeSlots
	if err != nil {
		return ErrUnsupported
	}
	// Whatever the decoder did not read must be nothing (PNG stops exactly after IEND) or, for
	// JPEG whose decoder reads ahead, end with the EOI marker: no payload rides behind the image.
	rest, err := io.Copy(io.Discard, counted)
	if err != nil {
		return err
	}
	if contentType == PNG && rest > 0 {
		return ErrUnsupported
	}
	if !bytes.Equal(tail.Bytes(), end) {
		return ErrUnsupported
	}
	return nil
}

// cappedBuffer keeps what is written up to max bytes and then refuses more.
type cappedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

var errHeaderTooLong = errors.New("image header too long")

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.over = true
		return 0, errHeaderTooLong
	}
	return b.Buffer.Write(p)
}

// tailWriter remembers the last n bytes written.
type tailWriter struct {
	n   int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	if len(p) >= t.n {
		t.buf = append(t.buf[:0], p[len(p)-t.n:]...)
		return len(p), nil
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = t.buf[len(t.buf)-t.n:]
	}
	return len(p), nil
}

func (t *tailWriter) Bytes() []byte { return t.buf }
