package web_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"circly"
	"circly/web"
)

const linkID = "3f6b7a2e-6c1d-4a52-9a7e-2d1c0b9e8f41"

// fakeInvites answers one link; the rest are unknown.
type fakeInvites struct {
	preview circly.InvitePreview
	err     error
}

func (f fakeInvites) InvitePreview(_ context.Context, id string) (circly.InvitePreview, error) {
	if id != linkID {
		return circly.InvitePreview{}, circly.ErrInviteNotFound
	}
	return f.preview, f.err
}

func serve(t *testing.T, inv web.Invites, path string) (*http.Response, string) {
	t.Helper()
	p, err := web.New(inv, "https://circly.example")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", path, nil)
	if strings.HasPrefix(path, web.StaticPrefix) {
		p.Static().ServeHTTP(rec, req)
	} else if err := p.Invite(rec, req, strings.TrimPrefix(path, "/join/"), nil); err != nil {
		t.Logf("Invite returned %v", err)
	}
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestInvitePageShowsTheCircle(t *testing.T) {
	res, body := serve(t, fakeInvites{preview: circly.InvitePreview{CircleName: `3반 <b>"친구들"</b>`, MemberCount: 4, MaxMembers: 10}}, "/join/"+linkID)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("status %d, type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`<html lang="ko">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">`,
		`3반 &lt;b&gt;&#34;친구들&#34;&lt;/b&gt;`, // escaped, never markup
		`멤버 <strong>4</strong> / 10명`,
		`href="circly://join/` + linkID + `"`,
		`<meta property="og:url" content="https://circly.example/join/` + linkID + `">`,
		`<meta property="og:type" content="website">`,
		`<meta property="og:title" content="‘3반 &lt;b&gt;&#34;친구들&#34;&lt;/b&gt;’ 서클에 초대받았어요 · Circly">`,
		`<meta property="og:description" content="멤버 4/10명`,
		`<meta name="twitter:card" content="summary">`,
		`<meta property="og:image" content="https://circly.example/static/og-image.png?v=`,
		`id="get-app"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "<b>") {
		t.Error("the circle name reached the page as markup")
	}
	if res.Header.Get("Content-Security-Policy") != web.CSP || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", res.Header)
	}
	// Nothing inline: the CSP has no 'unsafe-inline', so an inline script or style would not run.
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`<script(\s[^>]*)?>[^<]`), regexp.MustCompile(`<style`), regexp.MustCompile(`\sstyle=`), regexp.MustCompile(`\son[a-z]+=`)} {
		if bad.MatchString(body) {
			t.Errorf("page has inline code: %s", bad)
		}
	}
}

func TestInvitePageTakesUpperCaseLinks(t *testing.T) {
	res, body := serve(t, fakeInvites{preview: circly.InvitePreview{CircleName: "x", MemberCount: 1, MaxMembers: 10}}, "/join/"+strings.ToUpper(linkID))
	if res.StatusCode != 200 || !strings.Contains(body, `href="circly://join/`+linkID+`"`) {
		t.Fatalf("upper-case link: %d", res.StatusCode)
	}
}

func TestInvitePageOfAFullCircleHasNoJoinButton(t *testing.T) {
	_, body := serve(t, fakeInvites{preview: circly.InvitePreview{CircleName: "꽉 찬 서클", MemberCount: 10, MaxMembers: 10}}, "/join/"+linkID)
	if !strings.Contains(body, `id="full"`) || strings.Contains(body, `id="open-app"`) {
		t.Errorf("full circle page:\n%s", body)
	}
}

func TestInvitePageErrors(t *testing.T) {
	cases := []struct {
		name, path string
		inv        fakeInvites
		status     int
		heading    string
	}{
		{"unknown", "/join/00000000-0000-4000-8000-000000000000", fakeInvites{}, 404, "초대 링크를 찾을 수 없어요"},
		{"not a uuid", "/join/..%2f..%2fetc", fakeInvites{}, 404, "초대 링크를 찾을 수 없어요"},
		{"expired", "/join/" + linkID, fakeInvites{err: circly.ErrInviteExpired}, 410, "만료된 초대 링크예요"},
		{"store down", "/join/" + linkID, fakeInvites{err: errors.New("boom")}, 500, "잠시 문제가 생겼어요"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := serve(t, c.inv, c.path)
			if res.StatusCode != c.status || !strings.Contains(body, c.heading) || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("status %d (want %d), body:\n%s", res.StatusCode, c.status, body)
			}
			if strings.Contains(body, "..") || strings.Contains(body, "boom") {
				t.Error("the page echoes the path or the error")
			}
		})
	}
}

func TestStaticFilesAreHashedAndCached(t *testing.T) {
	_, page := serve(t, fakeInvites{preview: circly.InvitePreview{CircleName: "x", MemberCount: 1, MaxMembers: 10}}, "/join/"+linkID)
	css := regexp.MustCompile(`href="(/static/circly\.css\?v=([0-9a-f]{16}))"`).FindStringSubmatch(page)
	if css == nil {
		t.Fatalf("no hashed stylesheet link in\n%s", page)
	}
	res, body := serve(t, nil, css[1])
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/css; charset=utf-8" ||
		res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || res.Header.Get("ETag") != `"`+css[2]+`"` || len(body) == 0 {
		t.Fatalf("hashed css: %d %v", res.StatusCode, res.Header)
	}
	res, _ = serve(t, nil, "/static/circly.css")
	if res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("unhashed css is cached: %v", res.Header)
	}
	if res, _ := serve(t, nil, "/static/nope.js"); res.StatusCode != 404 {
		t.Errorf("unknown file: %d", res.StatusCode)
	}
}
