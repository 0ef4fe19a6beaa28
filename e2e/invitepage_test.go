package e2e_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testproc"
)

// invitePageServer starts `circly serve` on a fresh PostgreSQL schema with PUBLIC_URL at its own
// address, so the invite_link it hands out is the page it serves. A user creates a circle of
// 10 named name and another joins it; it returns the server and the create answer.
func invitePageServer(t *testing.T, name string) (*proc, map[string]any) {
	t.Helper()
	port := testproc.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	vars := distributedEnv(t, testdb.PostgresSchemaURL(t), "", "e2e-invite-secret-0123456789abcdef")
	delete(vars, "REDIS_URL") // in-memory broker and limits: one replica
	vars["PORT"], vars["PUBLIC_URL"], vars["SHUTDOWN_DRAIN"] = strconv.Itoa(port), base, "1s"
	p := startProcEnv(t, "invite-page", port, envList(vars))
	p.waitHealthy(90 * time.Second)
	owner, err := login(p.URL, "invite-owner-"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	guest, err := login(p.URL, "invite-guest-"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	c := must(t, 201, "POST", p.URL+"/v1/circles", owner.Token, map[string]any{"name": name, "nickname": "m0", "max_members": 10})
	must(t, 200, "POST", p.URL+"/v1/circles/join", guest.Token, map[string]any{"invite_link_id": c["invite_link_id"], "nickname": "m1"})
	c["owner_token"] = owner.Token
	return p, c
}

func getPage(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// TestInvitePageServed: the invite_link of a real circle answers its page (HTML, the page's
// CSP); an unknown link and the old link after regenerate-invite answer the 404 page, not JSON.
func TestInvitePageServed(t *testing.T) {
	p, c := invitePageServer(t, "e2e 초대 서클")
	link := c["invite_link"].(string)
	if link != p.URL+"/join/"+c["invite_link_id"].(string) {
		t.Fatalf("invite_link %q is not this server's page", link)
	}
	res, body := getPage(t, link)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET %s: %d %v", link, res.StatusCode, res.Header)
	}
	for _, want := range []string{"e2e 초대 서클", "멤버 <strong>2</strong> / 10명", `href="circly://join/` + c["invite_link_id"].(string) + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// The link preview's image is this server's, by an absolute URL a messenger can fetch.
	img := regexp.MustCompile(`<meta property="og:image" content="([^"]+)">`).FindStringSubmatch(body)
	if img == nil || !strings.HasPrefix(img[1], p.URL+"/static/") {
		t.Fatalf("og:image %v", img)
	}
	if res, png := getPage(t, img[1]); res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(png, "\x89PNG") {
		t.Errorf("og:image %s: %d %q", img[1], res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res, body := getPage(t, p.URL+"/join/00000000-0000-4000-8000-000000000000"); res.StatusCode != 404 || !strings.Contains(body, "<html lang=\"ko\">") {
		t.Errorf("unknown link: %d\n%s", res.StatusCode, body)
	}
	must(t, 200, "POST", p.URL+"/v1/circles/"+c["id"].(string)+"/regenerate-invite", c["owner_token"].(string), nil)
	if res, body := getPage(t, link); res.StatusCode != 404 || !strings.Contains(body, "초대 링크를 찾을 수 없어요") {
		t.Errorf("regenerated link: %d\n%s", res.StatusCode, body)
	}
}
