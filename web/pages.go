package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"circly"
)

// linkIDPattern is an invite_link_id: a UUID in its 36-character form.
var linkIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Invites answers what an invite link shows (app.Service implements it).
type Invites interface {
	InvitePreview(ctx context.Context, linkID string) (circly.InvitePreview, error)
}

// Pages renders the pages. Build it with New.
type Pages struct {
	invites   Invites
	publicURL string
	pages     map[string]*template.Template
	static    *assets
}

// New parses the embedded templates and hashes the static files. publicURL is PUBLIC_URL, the
// base of the links the pages name (og:url).
func New(invites Invites, publicURL string) (*Pages, error) {
	a, err := loadAssets(staticFS())
	if err != nil {
		return nil, fmt.Errorf("web: load static files: %w", err)
	}
	pages, err := parsePages(a, publicURL)
	if err != nil {
		return nil, err
	}
	return &Pages{invites: invites, publicURL: publicURL, pages: pages, static: a}, nil
}

// Static serves the embedded static files under StaticPrefix.
func (p *Pages) Static() http.Handler { return p.static }

// head is what the layout puts in <head>: the title and the link preview (Open Graph, Twitter).
type head struct {
	Title       string
	Description string
	URL         string // og:url, the page's public address
}

type invitePage struct {
	head
	Circle   circly.InvitePreview
	DeepLink template.URL // circly://join/<uuid>; html/template would blank a non-http scheme
	WebLink  string       // the live page, for people without the app
}

type gonePage struct {
	head
	Heading string
	Message string
}

// Invite writes the page of invite link linkID: the circle's name, member count and whether it
// is full, with a button that opens the app and a link to the live page. Unknown, regenerated
// and deleted links get the 404 page, expired ones 410 (the answers of a join by that link). An
// unexpected failure writes a 500 (503 when transient is true for it) page and is returned for
// the caller to log.
func (p *Pages) Invite(w http.ResponseWriter, r *http.Request, linkID string, transient func(error) bool) error {
	preview, id, done, err := p.lookup(w, r, linkID, transient)
	if done {
		return err
	}
	link := p.publicURL + "/join/" + id
	desc := "멤버 " + strconv.Itoa(preview.MemberCount) + "/" + strconv.Itoa(preview.MaxMembers) +
		"명 · Circly에서 친구들과 익명으로 칭찬을 주고받아요."
	if preview.Full() {
		desc = "지금은 자리가 없어요 (" + strconv.Itoa(preview.MemberCount) + "/" + strconv.Itoa(preview.MaxMembers) + "명)."
	}
	return p.render(w, http.StatusOK, "invite", invitePage{
		head:   head{Title: "‘" + preview.CircleName + "’ 서클에 초대받았어요 · Circly", Description: desc, URL: link},
		Circle: preview,
		// id matched linkIDPattern (hex and dashes only), so the URL needs no escaping.
		DeepLink: template.URL("circly://join/" + id), // #nosec G203
		WebLink:  "/join/" + id + "/web",
	})
}

// lookup answers what invite link linkID shows. When done is true it has already written the
// error page (404, 410, 500/503) and err is what the caller should log, if anything; otherwise
// id is the link's lower-case form.
func (p *Pages) lookup(w http.ResponseWriter, r *http.Request, linkID string, transient func(error) bool) (preview circly.InvitePreview, id string, done bool, err error) {
	if !linkIDPattern.MatchString(linkID) {
		return preview, "", true, p.render(w, http.StatusNotFound, "gone", notFoundPage(p.publicURL))
	}
	id = strings.ToLower(linkID) // the store keeps the lower-case form
	link := p.publicURL + "/join/" + id
	preview, err = p.invites.InvitePreview(r.Context(), id)
	var ce *circly.Error
	switch {
	case err == nil:
		return preview, id, false, nil
	case errors.As(err, &ce) && ce.Code == circly.CodeInviteNotFound:
		return preview, id, true, p.render(w, http.StatusNotFound, "gone", notFoundPage(link))
	case errors.As(err, &ce) && ce.Code == circly.CodeInviteExpired:
		return preview, id, true, p.render(w, http.StatusGone, "gone", gonePage{
			head:    head{Title: "만료된 초대 링크 · Circly", Description: "이 초대 링크는 기한이 지났어요.", URL: link},
			Heading: "만료된 초대 링크예요",
			Message: "초대 링크는 일정 기간이 지나면 더 이상 쓸 수 없어요. 초대한 친구에게 새 링크를 부탁해 주세요.",
		})
	default:
		status := http.StatusInternalServerError
		if transient != nil && transient(err) {
			status = http.StatusServiceUnavailable
		}
		rerr := p.render(w, status, "gone", gonePage{
			head:    head{Title: "Circly", Description: "잠시 후 다시 시도해 주세요.", URL: link},
			Heading: "잠시 문제가 생겼어요",
			Message: "잠시 후 이 페이지를 새로 고침해 주세요.",
		})
		return preview, id, true, errors.Join(err, rerr)
	}
}

// Problem writes the page of a request the server refused before a page ran (a rate limit's
// 429, a 405, an unknown path under a page's prefix); the caller set any Retry-After.
func (p *Pages) Problem(w http.ResponseWriter, status int) error {
	switch status {
	case http.StatusNotFound:
		return p.render(w, status, "gone", notFoundPage(p.publicURL))
	case http.StatusTooManyRequests:
		return p.render(w, status, "gone", gonePage{
			head:    head{Title: "Circly", Description: "잠시 후 다시 시도해 주세요.", URL: p.publicURL},
			Heading: "요청이 너무 많아요",
			Message: "잠시 후 이 페이지를 새로 고침해 주세요.",
		})
	default:
		return p.render(w, status, "gone", gonePage{
			head:    head{Title: "Circly", Description: "잠시 후 다시 시도해 주세요.", URL: p.publicURL},
			Heading: "잠시 문제가 생겼어요",
			Message: "잠시 후 이 페이지를 새로 고침해 주세요.",
		})
	}
}

func notFoundPage(url string) gonePage {
	return gonePage{
		head:    head{Title: "초대 링크를 찾을 수 없어요 · Circly", Description: "없는 초대 링크예요.", URL: url},
		Heading: "초대 링크를 찾을 수 없어요",
		Message: "링크가 잘못되었거나, 서클이 새 초대 링크를 만들었을 수 있어요. 초대한 친구에게 새 링크를 받아 주세요.",
	}
}

// render executes a page into a buffer first, so a template error never sends half a page:
// it sends a bare 500 and returns the error.
func (p *Pages) render(w http.ResponseWriter, status int, page string, data any) error {
	var buf bytes.Buffer
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("Cache-Control", "no-store") // the member count moves; a regenerated link dies at once
	if err := p.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("page error"))
		return fmt.Errorf("web: render %s: %w", page, err)
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}
