package web

import "net/http"

// livePage is the page where someone without the app joins a circle by its invite link, votes
// and watches the tallies move. The page itself only names the circle; everything else comes
// from the public API and /v1/ws, called by live-page.js exactly as the apps call them.
type livePage struct {
	head
	CircleName string
	LinkID     string
}

// Live writes the live page of invite link linkID (<PUBLIC_URL>/join/<id>/web). Its errors
// are the invite page's: the 404 and 410 pages, a 500 (503) page returned for the caller to log.
func (p *Pages) Live(w http.ResponseWriter, r *http.Request, linkID string, transient func(error) bool) error {
	preview, id, done, err := p.lookup(w, r, linkID, transient)
	if done {
		return err
	}
	return p.render(w, http.StatusOK, "live", livePage{
		head: head{
			Title:       "‘" + preview.CircleName + "’ 투표 · Circly",
			Description: "Circly 서클의 칭찬 투표에 웹에서 참여해요.",
			URL:         p.publicURL + "/join/" + id + "/web",
		},
		CircleName: preview.CircleName,
		LinkID:     id,
	})
}
