package server_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"circly/config"
	"circly/sqlstore"
	"circly/web"
)

// page fetches a browser page and checks the headers every page carries.
func (e *env) page(t *testing.T, path string, status int) string {
	t.Helper()
	r := e.request("GET", path, "", nil)
	if r.Status != status {
		t.Fatalf("GET %s: %d, want %d\n%s", path, r.Status, status, r.Raw)
	}
	h := r.Header
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("Content-Security-Policy") != web.CSP ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("GET %s headers: %v", path, h)
	}
	return string(r.Raw)
}

// TestInvitePageThroughTheServer: the page behind invite_link answers 200 with the circle, 404
// (HTML, not the JSON envelope) for an unknown, regenerated or deleted circle's link, 410 once
// expired — on both databases.
func TestInvitePageThroughTheServer(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		creator := e.login()
		d := e.must(201, e.request("POST", "/v1/circles", creator.Token, map[string]any{"name": "3학년 2반", "nickname": "m0", "max_members": 10}))
		link, id := d["invite_link"].(string), d["invite_link_id"].(string)
		if !strings.HasSuffix(link, "/join/"+id) {
			t.Fatalf("invite_link %q", link)
		}
		body := e.page(t, "/join/"+id, 200)
		for _, want := range []string{"3학년 2반", "멤버 <strong>1</strong> / 10명", `href="circly://join/` + id + `"`} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		if strings.Contains(body, "m0") || strings.Contains(body, d["id"].(string)) {
			t.Error("the page shows a nickname or the circle id")
		}
		e.page(t, "/join/00000000-0000-4000-8000-000000000000", 404)
		e.page(t, "/join/not-a-link", 404)
		if r := e.request("POST", "/join/"+id, "", nil); r.Status != 405 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("POST to the page: %d %q", r.Status, r.Header.Get("Content-Type"))
		}
		if h := e.request("HEAD", "/join/"+id, "", nil); h.Status != 200 || len(h.Raw) != 0 || h.Header.Get("Content-Security-Policy") != web.CSP {
			t.Errorf("HEAD: %d, %d bytes, %v", h.Status, len(h.Raw), h.Header)
		}

		// Regenerated: the old link is unknown (404, as a join by it), the new one works.
		nd := e.must(200, e.request("POST", "/v1/circles/"+d["id"].(string)+"/regenerate-invite", creator.Token, nil))
		if !strings.Contains(e.page(t, "/join/"+id, 404), "초대 링크를 찾을 수 없어요") {
			t.Error("regenerated link: not the not-found page")
		}
		newID := nd["invite_link_id"].(string)
		e.page(t, "/join/"+newID, 200)

		// Expired: 410, until the link is regenerated.
		e.advance(25 * time.Hour)
		if !strings.Contains(e.page(t, "/join/"+newID, 410), "만료된 초대 링크예요") {
			t.Error("expired link: not the gone page")
		}

		// A deleted circle's link is unknown.
		e.advance(-25 * time.Hour)
		e.must(200, e.request("DELETE", "/v1/circles/"+d["id"].(string), creator.Token, nil))
		e.page(t, "/join/"+newID, 404)
	})
}

// TestStaticFilesThroughTheServer: a hashed URL is cached for a year, the ETag revalidates.
func TestStaticFilesThroughTheServer(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	body := e.page(t, "/join/00000000-0000-4000-8000-000000000000", 404)
	m := regexp.MustCompile(`href="(/static/circly\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no stylesheet link")
	}
	r := e.request("GET", m[1], "", nil)
	if r.Status != 200 || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		r.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("css: %d %v", r.Status, r.Header)
	}
	again := e.request("GET", m[1], "", nil, "If-None-Match", r.Header.Get("ETag"))
	if again.Status != http.StatusNotModified || len(again.Raw) != 0 {
		t.Errorf("revalidation: %d, %d bytes", again.Status, len(again.Raw))
	}
}

// TestInvitePageIsRateLimited: the page reads the database, so it draws from the general
// budget like an unauthenticated API call.
func TestInvitePageIsRateLimited(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite, withConfig(func(c *config.Config) { c.RateLimitRequests, c.RateLimitWindow = 2, time.Minute }))
	path := "/join/00000000-0000-4000-8000-000000000000"
	e.page(t, path, 404)
	e.page(t, path, 404)
	r := e.request("GET", path, "", nil)
	if r.Status != 429 || r.Header.Get("Retry-After") == "" || r.Header.Get("Content-Security-Policy") != web.CSP ||
		!strings.Contains(string(r.Raw), "요청이 너무 많아요") {
		t.Fatalf("third page view: %d %v\n%s", r.Status, r.Header, r.Raw)
	}
	// The static files do not count.
	for range 3 {
		if r := e.request("GET", "/static/circly.css", "", nil); r.Status != 200 {
			t.Fatalf("css: %d", r.Status)
		}
	}
}
