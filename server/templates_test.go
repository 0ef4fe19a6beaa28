package server_test

import (
	"slices"
	"strings"
	"testing"
	"unicode"

	"circly/internal/testdb"
)

func TestListTemplates(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	d := e.must(200, e.request("GET", "/v1/templates", u.Token, nil))
	ts := list(t, d["templates"])
	if num(t, d["total"]) < 12 || len(ts) < 12 || num(t, d["limit"]) != 20 || num(t, d["offset"]) != 0 {
		t.Fatalf("templates %v", d)
	}
	categories := map[string]bool{}
	for _, x := range ts {
		for _, k := range []string{"id", "category", "question_text", "usage_count"} {
			if _, ok := x[k]; !ok {
				t.Fatalf("template without %s: %v", k, x)
			}
		}
		if _, ok := x["rank"]; ok {
			t.Fatalf("rank outside /popular: %v", x)
		}
		categories[x["category"].(string)] = true
		if !strings.ContainsFunc(x["question_text"].(string), func(r rune) bool { return unicode.Is(unicode.Hangul, r) }) {
			t.Fatalf("seeded template not in Korean: %v", x)
		}
	}
	for _, c := range []string{"appearance", "personality", "talent", "special"} {
		if !categories[c] {
			t.Fatalf("no seeded template of category %s", c)
		}
		f := e.must(200, e.request("GET", "/v1/templates?category="+c, u.Token, nil))
		fs := list(t, f["templates"])
		if len(fs) == 0 || num(t, f["total"]) != float64(len(fs)) {
			t.Fatalf("category %s: %v", c, f)
		}
		for _, x := range fs {
			if x["category"] != c {
				t.Fatalf("category %s lists %v", c, x)
			}
		}
	}
	for _, q := range []string{"category=food", "category=Appearance", "limit=0", "limit=x", "offset=-5"} {
		checkError(t, 400, "VALIDATION_ERROR", e.request("GET", "/v1/templates?"+q, u.Token, nil))
	}
	p := e.must(200, e.request("GET", "/v1/templates?limit=5&offset=5", u.Token, nil))
	if len(list(t, p["templates"])) != 5 || num(t, p["limit"]) != 5 || num(t, p["offset"]) != 5 || p["total"] != d["total"] {
		t.Fatalf("page %v", p)
	}
	if ts[5]["id"] != list(t, p["templates"])[0]["id"] {
		t.Fatal("offset 5 does not start at the sixth template")
	}
}

func TestTemplatesOrderedByUsage(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		u := c.Members[0]
		for _, n := range []int{7, 7, 7, 12, 12, 3} {
			e.newPollBy(u, c, templateID(n), 1)
		}
		d := e.must(200, e.request("GET", "/v1/templates?limit=100", u.Token, nil))
		ts := list(t, d["templates"])
		if ts[0]["id"] != templateID(7) || num(t, ts[0]["usage_count"]) != 3 ||
			ts[1]["id"] != templateID(12) || num(t, ts[1]["usage_count"]) != 2 ||
			ts[2]["id"] != templateID(3) || num(t, ts[2]["usage_count"]) != 1 {
			t.Fatalf("order by usage: %v", ts[:3])
		}
		if !slices.IsSortedFunc(ts, func(a, b map[string]any) int { return int(num(t, b["usage_count"]) - num(t, a["usage_count"])) }) {
			t.Fatalf("templates not ordered by usage_count: %v", ts)
		}

		pop := e.must(200, e.request("GET", "/v1/templates/popular", u.Token, nil))
		ps := list(t, pop["templates"])
		if len(ps) != 10 {
			t.Fatalf("popular default limit: %d", len(ps))
		}
		for i, x := range ps {
			if num(t, x["rank"]) != float64(i+1) || x["id"] != ts[i]["id"] {
				t.Fatalf("popular #%d: %v", i+1, x)
			}
		}
		pop = e.must(200, e.request("GET", "/v1/templates/popular?limit=2&offset=4", u.Token, nil))
		if ps := list(t, pop["templates"]); len(ps) != 2 || ps[0]["id"] != templateID(7) || num(t, ps[1]["rank"]) != 2 {
			t.Fatalf("popular limit 2: %v", ps)
		}
		checkError(t, 400, "VALIDATION_ERROR", e.request("GET", "/v1/templates/popular?limit=0", u.Token, nil))

		one := e.must(200, e.request("GET", "/v1/templates/"+templateID(7), u.Token, nil))
		if one["id"] != templateID(7) || num(t, one["usage_count"]) != 3 || one["question_text"] != ts[0]["question_text"] || one["category"] != ts[0]["category"] {
			t.Fatalf("template %v", one)
		}
	}, noPollLimits())
}

func TestGetTemplate(t *testing.T) {
	e := newEnv(t, testdb.Dialects[0])
	u := e.login()
	d := e.must(200, e.request("GET", "/v1/templates/"+firstTemplate, u.Token, nil))
	if d["id"] != firstTemplate || d["category"] != "appearance" || d["question_text"] == "" {
		t.Fatalf("template %v", d)
	}
	e.fail(404, "TEMPLATE_NOT_FOUND", e.request("GET", "/v1/templates/"+unknownID, u.Token, nil))
	e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/templates/1", u.Token, nil))
	e.fail(400, "VALIDATION_ERROR", e.request("GET", "/v1/templates/"+firstTemplate+"0", u.Token, nil))
}
