package web_test

import (
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"circly"
	"circly/web"
)

func serveLive(t *testing.T, inv web.Invites, id string) (int, string, *httptest.ResponseRecorder) {
	t.Helper()
	p, err := web.New(inv, "https://circly.example")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := p.Live(rec, httptest.NewRequest("GET", "/join/"+id+"/web", nil), id, nil); err != nil {
		t.Logf("Live returned %v", err)
	}
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b), rec
}

// TestLivePage: the page names the circle (escaped), carries the link id for its script, loads
// its module and stylesheet by hashed URLs, has nothing inline and sends the page CSP.
func TestLivePage(t *testing.T) {
	code, body, rec := serveLive(t, fakeInvites{preview: circly.InvitePreview{CircleName: `3반 <b>"친구들"</b>`, MemberCount: 4, MaxMembers: 10}}, linkID)
	if code != 200 || rec.Header().Get("Content-Security-Policy") != web.CSP || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, headers %v", code, rec.Header())
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`<script type="module" src="/static/live-page\.js\?v=[0-9a-f]{16}"></script>`),
		regexp.MustCompile(`<link rel="stylesheet" href="/static/live\.css\?v=[0-9a-f]{16}">`),
		regexp.MustCompile(`data-live-client="/static/circly-live\.js\?v=[0-9a-f]{16}"`),
		regexp.MustCompile(`data-link-id="` + linkID + `"`),
		regexp.MustCompile(`<meta property="og:url" content="https://circly\.example/join/` + linkID + `/web">`),
		regexp.MustCompile(`3반 &lt;b&gt;&#34;친구들&#34;&lt;/b&gt;`),
	} {
		if !want.MatchString(body) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "<b>") {
		t.Error("the circle name reached the page as markup")
	}
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`<script(\s[^>]*)?>[^<]`), regexp.MustCompile(`<style`), regexp.MustCompile(`\sstyle=`), regexp.MustCompile(`\son[a-z]+=`)} {
		if bad.MatchString(body) {
			t.Errorf("page has inline code: %s", bad)
		}
	}
}

func TestLivePageErrors(t *testing.T) {
	if code, body, _ := serveLive(t, fakeInvites{}, "00000000-0000-4000-8000-000000000000"); code != 404 || !strings.Contains(body, "초대 링크를 찾을 수 없어요") {
		t.Errorf("unknown link: %d", code)
	}
	if code, _, _ := serveLive(t, fakeInvites{}, "not-a-link"); code != 404 {
		t.Errorf("not a uuid: %d", code)
	}
	if code, _, _ := serveLive(t, fakeInvites{err: circly.ErrInviteExpired}, linkID); code != 410 {
		t.Errorf("expired: %d", code)
	}
}

// TestLivePageScriptUsesNoMarkup: the script builds the page with textContent only.
func TestLivePageScriptUsesNoMarkup(t *testing.T) {
	p, err := web.New(fakeInvites{}, "https://circly.example")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	p.Static().ServeHTTP(rec, httptest.NewRequest("GET", "/static/live-page.js", nil))
	js := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" || len(js) == 0 {
		t.Fatalf("live-page.js: %d %v", rec.Code, rec.Header())
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(js, bad) {
			t.Errorf("live-page.js uses %s", bad)
		}
	}
}

func TestInvitePageLinksTheLivePage(t *testing.T) {
	_, body := serve(t, fakeInvites{preview: circly.InvitePreview{CircleName: "x", MemberCount: 1, MaxMembers: 10}}, "/join/"+linkID)
	if !strings.Contains(body, `id="open-web" class="button secondary" href="/join/`+linkID+`/web"`) {
		t.Errorf("no web join link:\n%s", body)
	}
}
