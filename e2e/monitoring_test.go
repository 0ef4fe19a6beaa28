package e2e_test

import (
	"bufio"
	"io"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"circly/internal/opstest"
)

// notFromTheService are names the alerts and dashboard may read that a replica's /metrics does
// not serve.
var notFromTheService = map[string]string{
	"up": "Prometheus's own series per scrape target",
}

// TestAlertsAndDashboardReadExportedMetrics: every metric name an alert rule or a dashboard
// panel queries is in the first scrape of a real `circly serve` (its private METRICS_ADDR), so
// a renamed or removed metric cannot leave an alert that never fires or an empty panel.
func TestAlertsAndDashboardReadExportedMetrics(t *testing.T) {
	p := startServer(t, "metrics", map[string]string{
		"DATA_DIR": t.TempDir(), "METRICS_ADDR": "127.0.0.1:0", "LOG_LEVEL": "info",
	})
	// http_requests_total has a series once a request was answered.
	if r, err := call("GET", p.URL+"/health/detailed", "", nil); err != nil || r.Status != 200 {
		t.Fatalf("/health/detailed: %d %v", r.Status, err)
	}
	exported := scrapeNames(t, p)

	root, err := opstest.Root()
	if err != nil {
		t.Fatal(err)
	}
	queries, err := opstest.Queries(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) < 30 {
		t.Fatalf("read %d queries from the alerts and the dashboard; expected more", len(queries))
	}
	missing := map[string][]string{}
	for _, q := range queries {
		names, err := opstest.MetricNames(q.Expr)
		if err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
		if len(names) == 0 {
			t.Errorf("%s reads no metric: %s", q.Where, q.Expr)
		}
		for _, n := range names {
			if !exported[n] && notFromTheService[n] == "" {
				missing[n] = append(missing[n], q.Where)
			}
		}
	}
	for n, where := range missing {
		t.Errorf("%s is not exported by circly serve; read by %s", n, strings.Join(where, ", "))
	}
	if t.Failed() {
		var names []string
		for n := range exported {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Logf("exported: %s", strings.Join(names, " "))
	}
}

// scrapeNames returns the series names of the replica's /metrics on METRICS_ADDR (histograms
// as their _bucket, _sum and _count series, as PromQL reads them).
func scrapeNames(t *testing.T, p *proc) map[string]bool {
	t.Helper()
	resp, err := httpClient.Get("http://" + metricsAddr(t, p) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %.300s", resp.StatusCode, body)
	}
	names := map[string]bool{}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if end := strings.IndexAny(line, "{ "); end > 0 {
			names[line[:end]] = true
		}
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// metricsAddr is the METRICS_ADDR listener the replica logged (started with LOG_LEVEL=info).
func metricsAddr(t *testing.T, p *proc) string {
	t.Helper()
	var addr []string
	for deadline := time.Now().Add(10 * time.Second); addr == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		addr = regexp.MustCompile(`metrics are served apart.*"addr": ?"([0-9.]+:[0-9]+)"`).FindStringSubmatch(p.stderr.String())
	}
	if addr == nil {
		t.Fatalf("the replica did not log its metrics address:\n%s", p.stderr.String())
	}
	return addr[1]
}
