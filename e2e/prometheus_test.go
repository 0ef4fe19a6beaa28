package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"circly/internal/opstest"
	"circly/internal/testproc"
)

// TestPrometheusEvaluatesTheRules: a real Prometheus (Debian's `prometheus`, installed by
// .ci/run) scrapes a real `circly serve` on its METRICS_ADDR with the shipped alert rules. The
// target is up, every rule evaluates without error on the real series, no alert is pending on
// the healthy replica but the backup one (no backup exists), and every dashboard query returns
// series.
func TestPrometheusEvaluatesTheRules(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed (Debian: apt-get install prometheus); .ci/run installs it")
	}
	root, err := opstest.Root()
	if err != nil {
		t.Fatal(err)
	}
	p := startServer(t, "scraped", map[string]string{"DATA_DIR": t.TempDir(), "METRICS_ADDR": "127.0.0.1:0", "LOG_LEVEL": "info"})
	if r, err := call("GET", p.URL+"/health/detailed", "", nil); err != nil || r.Status != 200 {
		t.Fatalf("/health/detailed: %d %v", r.Status, err)
	}
	prom := startPrometheus(t, bin, root, metricsAddr(t, p))

	// Three scrapes, so rates over the dashboard's windows have points.
	waitFor(t, 30*time.Second, "three scrapes of the replica", func() (bool, string) {
		res := prom.query(t, `count_over_time(up{job="circly"}[1m]) >= 3 and up{job="circly"} == 1`)
		return len(res) == 1, fmt.Sprint(res)
	})

	groups, err := opstest.AlertRules(root)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, g := range groups {
		want += len(g.Rules)
	}
	var active []string // alerts pending or firing at the last look
	waitFor(t, 15*time.Second, "every rule evaluated without error", func() (bool, string) {
		active = nil
		var body struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
					State     string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		}
		prom.get(t, "/api/v1/rules", nil, &body)
		ok, seen, report := true, 0, []string{}
		for _, g := range body.Groups {
			for _, r := range g.Rules {
				seen++
				if r.Health != "ok" {
					ok = false
					report = append(report, fmt.Sprintf("%s: %s %s", r.Name, r.Health, r.LastError))
				}
				if r.State != "inactive" && r.Name != "CirclyBackupTooOld" {
					active = append(active, r.Name+" is "+r.State)
				}
			}
		}
		return ok && seen == want, fmt.Sprintf("%d of %d rules: %s", seen, want, strings.Join(report, "; "))
	})
	if len(active) > 0 {
		t.Errorf("alerts active on a healthy replica: %s", strings.Join(active, ", "))
	}

	// The label values the rules select exist, so a renamed route, job or reason cannot leave
	// a rule matching nothing.
	for _, sel := range []string{
		`http_request_duration_seconds_count{route="/v1/ws"}`,
		`http_request_duration_seconds_count{route="/v1/polls/:id/live"}`,
		`http_requests_total{status=~"2.."}`,
		`ws_dropped_total{reason="slow_consumer"}`,
		`realtime_publish_total{result="error"}`,
		`jobs_interval_seconds{exported_job="close_polls"}`,
		`jobs_interval_seconds{exported_job="open_ballots"}`,
		`jobs_last_success_timestamp_seconds{exported_job="close_polls"}`,
		`jobs_runs_total{job="circly",exported_job="close_polls",result="error"}`, // the scrape job keeps "job"
		`push_sent_total{result="error"}`,
		`go_sql_max_open_connections{db_name="circly"}`,
		`go_sql_wait_count_total{db_name="circly"}`,
		`health_dependency_up{dependency="database"} == 1`,
	} {
		if len(prom.query(t, sel)) == 0 {
			t.Errorf("no series for %s", sel)
		}
	}

	d, err := opstest.ReadDashboard(root)
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*")
	for _, panel := range d.AllPanels() {
		for _, q := range panel.Targets {
			if res := prom.query(t, vars.Replace(q.Expr)); len(res) == 0 {
				t.Errorf("panel %q: no series for %s", panel.Title, q.Expr)
			}
		}
	}
}

// prometheus is a Prometheus server started by a test.
type prometheus struct{ url string }

func startPrometheus(t *testing.T, bin, root, target string) prometheus {
	t.Helper()
	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join(root, opstest.AlertRulesFile))
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [alerts.yml]
scrape_configs:
  - job_name: circly
    static_configs: [{targets: [%q]}]
`, target)
	for name, data := range map[string][]byte{"alerts.yml": rules, "prometheus.yml": []byte(config)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for attempt := 1; ; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", testproc.FreePort(t))
		var stderr testproc.Output
		cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		proc, err := testproc.Start(cmd, "prometheus", 30*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/-/ready", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("/-/ready: %d", resp.StatusCode)
			}
			return nil
		})
		if err != nil {
			if attempt < 3 && strings.Contains(stderr.String(), "address already in use") {
				continue
			}
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		t.Cleanup(func() {
			_ = proc.P.Kill()
			<-proc.Exited
			if t.Failed() {
				t.Logf("---- prometheus ----\n%s", stderr.String())
			}
		})
		return prometheus{url: "http://" + addr}
	}
}

// get decodes the data field of a Prometheus API answer into out.
func (p prometheus) get(t *testing.T, path string, params url.Values, out any) {
	t.Helper()
	resp, err := httpClient.Get(p.url + path + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if body.Status != "success" {
		t.Fatalf("%s %v: %s", path, params, body.Error)
	}
	if err := json.Unmarshal(body.Data, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// query runs an instant query and returns its result's series (their labels).
func (p prometheus) query(t *testing.T, expr string) []map[string]string {
	t.Helper()
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
		} `json:"result"`
	}
	p.get(t, "/api/v1/query", url.Values{"query": {expr}}, &data)
	out := make([]map[string]string, len(data.Result))
	for i, r := range data.Result {
		out[i] = r.Metric
	}
	return out
}

// waitFor polls cond until it holds or timeout passes; then the test fails with cond's report.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, report := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, report)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
