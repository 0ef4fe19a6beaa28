package metrics

import "github.com/prometheus/client_golang/prometheus"

// ResultsCache counts reads of the results cache: hit, miss, or error (Redis failed; the read
// went to the database, as on a miss). Hit ratio = hit / (hit + miss + error).
var ResultsCache = register(prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "results_cache_requests_total", Help: "Poll results reads served from the cache (hit) or the database (miss, error).",
}, []string{"result"}))

// The results cache's labels, created at start (see known.go).
const (
	CacheHit  = "hit"
	CacheMiss = "miss"
)

func init() {
	for _, r := range []string{CacheHit, CacheMiss, ResultError} {
		ResultsCache.WithLabelValues(r)
	}
}
