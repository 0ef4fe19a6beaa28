package e2e_test

import (
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testredis"
)

// TestResultsCacheAcrossReplicas: two `circly serve` with RESULTS_CACHE=true share the cache in
// Redis (B's read of the version A ranked is a hit) and a new vote is never answered from the
// old entry.
func TestResultsCacheAcrossReplicas(t *testing.T) {
	pg := testdb.PostgresSchemaURL(t)
	rd := testredis.New(t).URL()
	secret := "e2e-shared-secret-0123456789abcdef-" + t.Name()
	envA, envB := distributedEnv(t, pg, rd, secret), distributedEnv(t, pg, rd, secret)
	envA["RESULTS_CACHE"], envB["RESULTS_CACHE"] = "true", "true"
	A := startProc(t, "replica-A", envA)
	A.waitHealthy(90 * time.Second)
	B := startProc(t, "replica-B", envB)
	B.waitHealthy(90 * time.Second)

	users := loginMany(t, "rcache", 3, A.URL)
	c := formCircle(t, A.URL, "cache", users)
	p := must(t, 201, "POST", A.URL+"/v1/polls", users[0].Token,
		map[string]any{"circle_id": c["id"], "template_id": firstTemplate(t, A.URL, users[0].Token), "duration_hours": 1})
	ids, _ := optionsOf(t, p)
	results := "/v1/polls/" + p["id"].(string) + "/results"
	vote := "/v1/polls/" + p["id"].(string) + "/vote"
	const hit = `results_cache_requests_total{result="hit"}`

	must(t, 201, "POST", A.URL+vote, users[0].Token, map[string]any{"option_id": ids[0]})
	if r := must(t, 200, "GET", A.URL+results, users[1].Token, nil); num(r["total_votes"]) != 1 {
		t.Fatalf("A after one vote: %v", r)
	}
	hitsB := scrapeGauge(t, B.URL, hit)
	if r := must(t, 200, "GET", B.URL+results, users[2].Token, nil); num(r["total_votes"]) != 1 {
		t.Fatalf("B after one vote: %v", r)
	}
	if got := scrapeGauge(t, B.URL, hit); got != hitsB+1 {
		t.Fatalf("B's read of the version A ranked: hits %v → %v, want one more", hitsB, got)
	}

	must(t, 201, "POST", B.URL+vote, users[1].Token, map[string]any{"option_id": ids[1]}) // not their own (ids[0])
	for _, base := range []string{A.URL, B.URL} {
		r := must(t, 200, "GET", base+results, users[2].Token, nil)
		if num(r["total_votes"]) != 2 || num(r["version"]) != 2 {
			t.Fatalf("%s after the second vote: %v", base, r)
		}
	}
}
