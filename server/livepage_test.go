package server_test

import (
	"strings"
	"testing"
	"time"

	"circly/config"
	"circly/sqlstore"
	"circly/web"
)

// TestLivePageThroughTheServer: /join/<id>/web answers the live page with the page headers, the
// invite page's 404/410 pages for dead links, a 405 page for POST, and draws from the general
// rate limit like the invite page.
func TestLivePageThroughTheServer(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite, withConfig(func(c *config.Config) { c.RateLimitRequests, c.RateLimitWindow = 6, time.Minute }))
	creator := e.login()
	d := e.must(201, e.request("POST", "/v1/circles", creator.Token, map[string]any{"name": "3학년 2반", "nickname": "m0", "max_members": 10}))
	id := d["invite_link_id"].(string)
	body := e.page(t, "/join/"+id+"/web", 200)
	for _, want := range []string{"3학년 2반", `data-link-id="` + id + `"`, `<script type="module" src="/static/live-page.js?v=`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "m0") || strings.Contains(body, d["id"].(string)) {
		t.Error("the page shows a nickname or the circle id")
	}
	if h := e.request("HEAD", "/join/"+id+"/web", "", nil); h.Status != 200 || len(h.Raw) != 0 || h.Header.Get("Content-Security-Policy") != web.CSP {
		t.Errorf("HEAD: %d, %d bytes, %v", h.Status, len(h.Raw), h.Header)
	}
	if r := e.request("POST", "/join/"+id+"/web", "", nil); r.Status != 405 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("POST to the page: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	e.page(t, "/join/00000000-0000-4000-8000-000000000000/web", 404)
	e.page(t, "/join/"+id+"/nope", 404)
	// By now the budget of 6 requests is spent: the page answers an HTML 429, not JSON.
	r := e.request("GET", "/join/"+id+"/web", "", nil)
	if r.Status != 429 || r.Header.Get("Content-Security-Policy") != web.CSP || !strings.Contains(string(r.Raw), "요청이 너무 많아요") {
		t.Fatalf("over the limit: %d %v", r.Status, r.Header)
	}
}
