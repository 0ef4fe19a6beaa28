package server_test

import (
	"context"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"circly"
	"circly/server"
	"circly/sqlstore"

	"github.com/getkin/kin-openapi/openapi3"
)

// pendingRoutes are operations the spec describes before their handlers exist (for work
// merged in parts). Empty: every described operation must be routed.
var pendingRoutes = map[string]bool{}

// isWebPage: routes of package web (the invite page and its static files).
func isWebPage(path string) bool {
	return strings.HasPrefix(path, "/join/") || strings.HasPrefix(path, "/static/")
}

var ginParam = regexp.MustCompile(`[:*][A-Za-z_]+`)
var specParam = regexp.MustCompile(`\{[A-Za-z_]+\}`)

// opKey names an operation independently of parameter names: "GET /v1/polls/{}".
func opKey(method, path string) string {
	path = ginParam.ReplaceAllString(path, "{}")
	return strings.ToUpper(method) + " " + specParam.ReplaceAllString(path, "{}")
}

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(server.OpenAPISpec())
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI 3: %v", err)
	}
	return doc
}

// TestOpenAPIMatchesRouter: every route is described, and every described operation is routed
// (or listed in pendingRoutes).
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc := loadSpec(t)
	e := newEnv(t, sqlstore.SQLite)
	routed := map[string]bool{}
	for _, r := range e.server.Routes() {
		if isWebPage(r.Path) {
			continue // browser pages, not API: docs/api.md lists them
		}
		routed[opKey(r.Method, r.Path)] = true
	}
	described := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described[opKey(method, path)] = true
		}
	}
	var missing, unrouted, stale []string
	for k := range routed {
		if !described[k] {
			missing = append(missing, k)
		}
	}
	for k := range described {
		if !routed[k] && !pendingRoutes[k] {
			unrouted = append(unrouted, k)
		}
	}
	for k := range pendingRoutes {
		if routed[k] {
			stale = append(stale, k)
		}
		if !described[k] {
			t.Errorf("pending route %s is not in the spec", k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unrouted)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.json: %v", missing)
	}
	if len(unrouted) > 0 {
		t.Errorf("operations in openapi.json that no route serves: %v", unrouted)
	}
	if len(stale) > 0 {
		t.Errorf("routed now, take them out of pendingRoutes: %v", stale)
	}
}

// TestOpenAPIServed: GET /v1/openapi.json needs no token and answers the embedded document;
// every operation documents its error answers with the envelope.
func TestOpenAPIServed(t *testing.T) {
	doc := loadSpec(t)
	e := newEnv(t, sqlstore.SQLite)
	r := e.request("GET", "/v1/openapi.json", "", nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /v1/openapi.json: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	var served map[string]any
	if err := json.Unmarshal(r.Raw, &served); err != nil || served["openapi"] == nil {
		t.Fatalf("served document: %v", err)
	}
	for path, item := range doc.Paths.Map() {
		for method, o := range item.Operations() {
			if !strings.HasPrefix(path, "/v1/") {
				continue
			}
			if o.Responses.Value("500") == nil {
				t.Errorf("%s %s documents no 500", method, path)
			}
			for code, ref := range o.Responses.Map() {
				if code[0] != '2' && code != "101" && !strings.HasPrefix(ref.Ref, "#/components/responses/") {
					t.Errorf("%s %s: %s answer is not one of the shared error responses", method, path, code)
				}
			}
		}
	}
	errEnv := doc.Components.Schemas["ErrorEnvelope"].Value
	if errEnv == nil || errEnv.Properties["error"] == nil {
		t.Fatal("no ErrorEnvelope schema")
	}
	// The error code enum is the code table.
	codes := doc.Components.Schemas["ErrorCode"].Value.Enum
	for _, c := range []circly.Code{circly.CodeRateLimited, circly.CodeMethodNotAllowed, circly.CodeTooManyPolls, circly.CodeSelfVote} {
		found := false
		for _, v := range codes {
			if v == string(c) {
				found = true
			}
		}
		if !found {
			t.Errorf("ErrorCode enum lacks %s", c)
		}
	}
}
