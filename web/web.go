// Package web serves the pages a browser opens (the invite page today, more later) from files
// embedded in the binary: html/template pages under templates/, static files under static/.
// It knows net/http only; the server routes to it and applies its middleware (rate limits,
// security headers) as to any request.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticRoot embed.FS

// CSP is the Content-Security-Policy of every page: its own scripts, styles, images and
// connections only, nothing inline, no frames, no forms posting elsewhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// StaticPrefix is the URL path under which static/ is served.
const StaticPrefix = "/static/"

// pageNames are the templates under templates/ that are pages; each is parsed together with
// layout.html, whose "layout" template calls the page's "title" and "content".
var pageNames = []string{"invite", "gone", "live"}

// parsePages builds one template set per page, with the asset helper bound to the static files;
// absolute makes an asset's URL absolute on publicURL, for the link preview's og:image.
func parsePages(a *assets, publicURL string) (map[string]*template.Template, error) {
	funcs := template.FuncMap{"asset": a.url, "absolute": func(path string) string { return publicURL + path }}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse page %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

func staticFS() fs.FS {
	sub, err := fs.Sub(staticRoot, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}
