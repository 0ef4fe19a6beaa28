package media_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"circly/media"
)

func picture(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	return img
}

// pngBytes and jpegBytes are small valid images.
func pngBytes(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, picture(40, 30)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, picture(40, 30), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hugePNG is a valid PNG whose header claims 100000 × 100000 pixels.
func hugePNG(t *testing.T) []byte {
	b := append([]byte(nil), pngBytes(t)...)
	// IHDR data starts after the 8-byte signature and the chunk's length and type.
	binary.BigEndian.PutUint32(b[16:], 100000)
	binary.BigEndian.PutUint32(b[20:], 100000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func TestValidate(t *testing.T) {
	p, j := pngBytes(t), jpegBytes(t)
	html := []byte("<html><script>alert(1)</script></html>")
	cases := []struct {
		name string
		data []byte
		ct   string // "" means: as Sniff says
		want error
	}{
		{"png", p, "", nil},
		{"jpeg", j, "", nil},
		{"truncated png", p[:len(p)/2], "", media.ErrUnsupported},
		{"png without IEND", p[:len(p)-12], "", media.ErrUnsupported},
		{"truncated jpeg", j[:len(j)/2], "", media.ErrUnsupported},
		{"png then html", append(append([]byte(nil), p...), html...), "", media.ErrUnsupported},
		{"jpeg then html", append(append([]byte(nil), j...), html...), "", media.ErrUnsupported},
		{"html behind a png signature", append([]byte("\x89PNG\r\n\x1a\n"), html...), "", media.ErrUnsupported},
		{"svg called png", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), media.PNG, media.ErrUnsupported},
		{"huge png", hugePNG(t), "", media.ErrTooManyPixels},
		{"empty", nil, media.JPEG, media.ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := c.ct
			if ct == "" {
				ct = media.Sniff(c.data)
			}
			r := bytes.NewReader(c.data)
			err := media.Validate(context.Background(), r, ct)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("Validate = %v, want %v", err, c.want)
			}
			if err == nil && r.Len() != 0 {
				t.Fatalf("%d bytes left unread", r.Len())
			}
		})
	}
}

func TestSniff(t *testing.T) {
	if got := media.Sniff(pngBytes(t)); got != media.PNG {
		t.Fatalf("png sniffed as %q", got)
	}
	if got := media.Sniff(jpegBytes(t)); got != media.JPEG {
		t.Fatalf("jpeg sniffed as %q", got)
	}
	for _, s := range []string{"GIF89a", "<svg", "<html>", "RIFF....WEBP", ""} {
		if got := media.Sniff([]byte(s)); got != "" {
			t.Fatalf("%q sniffed as %q", s, got)
		}
	}
}
