package server_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"circly/server"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIStrict holds the document to kin-openapi's validation with every optional check on
// (formats, patterns, defaults and examples against their schemas), to the rules a strict
// linter adds (a nullable schema states its type), and to the answers each operation can give.
func TestOpenAPIStrict(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(server.OpenAPISpec())
	if err != nil {
		t.Fatal(err)
	}
	err = doc.Validate(context.Background(),
		openapi3.EnableSchemaFormatValidation(), openapi3.EnableSchemaPatternValidation(),
		openapi3.EnableSchemaDefaultsValidation(), openapi3.EnableExamplesValidation(),
		openapi3.ProhibitExtensionsWithRef(), openapi3.EnableMultiError())
	if err != nil {
		t.Fatalf("strict validation: %v", err)
	}
	for _, p := range untypedNullables(doc) {
		t.Errorf("%s: nullable without a type (OpenAPI 3.0.3 ignores nullable there)", p)
	}
	for _, p := range missingAnswers(doc) {
		t.Error(p)
	}
}

// probes are the infrastructure endpoints outside /v1: a probe takes no input a client could get
// wrong, is not rate limited and needs no token, so it has no 4xx to document.
var probes = map[string]bool{"/health": true, "/health/detailed": true, "/metrics": true}

// missingAnswers lists each operation's answers that its shape makes possible but the document
// leaves out: a 4xx at all; 401 behind a token; 400 and 404 for a path id; 400, 413 and 415 for
// a JSON body; 429 and 500 everywhere under /v1; 503 wherever the database is read.
func missingAnswers(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		if probes[path] {
			continue
		}
		for method, op := range item.Operations() {
			want := []string{"429", "500"}
			if path != "/v1/openapi.json" {
				want = append(want, "503")
			}
			if op.Security == nil || len(*op.Security) > 0 {
				want = append(want, "401")
			}
			if strings.Contains(path, "{") {
				want = append(want, "400", "404")
			}
			if op.RequestBody != nil && op.RequestBody.Value.Content.Get("application/json") != nil {
				want = append(want, "400", "413", "415")
			}
			has4xx := false
			for code := range op.Responses.Map() {
				has4xx = has4xx || code[0] == '4'
			}
			if !has4xx {
				out = append(out, fmt.Sprintf("%s %s documents no 4xx answer", method, path))
			}
			for _, code := range want {
				if op.Responses.Value(code) == nil {
					out = append(out, fmt.Sprintf("%s %s documents no %s", method, path, code))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// untypedNullables walks every schema of the document (components, parameters, bodies,
// answers) and names those with nullable but no type.
func untypedNullables(doc *openapi3.T) []string {
	var out []string
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, ref *openapi3.SchemaRef)
	walk = func(where string, ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if s.Nullable && (s.Type == nil || len(*s.Type) == 0) {
			out = append(out, where)
		}
		for name, p := range s.Properties {
			walk(where+"."+name, p)
		}
		for i, sub := range append(append(append(openapi3.SchemaRefs{}, s.AllOf...), s.OneOf...), s.AnyOf...) {
			walk(fmt.Sprintf("%s[%d]", where, i), sub)
		}
		walk(where+"[]", s.Items)
		walk(where+".not", s.Not)
		if s.AdditionalProperties.Schema != nil {
			walk(where+".*", s.AdditionalProperties.Schema)
		}
	}
	for name, s := range doc.Components.Schemas {
		walk("#/components/schemas/"+name, s)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			at := method + " " + path
			for _, p := range op.Parameters {
				walk(at+" parameter "+p.Value.Name, p.Value.Schema)
			}
			if op.RequestBody != nil {
				for ct, mt := range op.RequestBody.Value.Content {
					walk(at+" body "+ct, mt.Schema)
				}
			}
			for code, r := range op.Responses.Map() {
				for ct, mt := range r.Value.Content {
					walk(at+" "+code+" "+ct, mt.Schema)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
