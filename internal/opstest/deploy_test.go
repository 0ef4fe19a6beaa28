package opstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// tool returns the path of a command the tests need; without it they fail (CI installs it).
func tool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (Debian: apt-get install %s); .ci/run installs it", name, debianPackage)
	}
	return path
}

func root(t *testing.T) string {
	t.Helper()
	r, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAlertRulesPromtool: the rules load, and their unit tests (alerts_test.yml) pass.
func TestAlertRulesPromtool(t *testing.T) {
	promtool, r := tool(t, "promtool", "prometheus"), root(t)
	run(t, r, promtool, "check", "rules", AlertRulesFile)
	out := run(t, r, promtool, "test", "rules", AlertRulesTestFile)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}

// TestPrometheusAndAlertmanagerConfig: the compose profile's configurations load.
func TestPrometheusAndAlertmanagerConfig(t *testing.T) {
	r := root(t)
	run(t, r, tool(t, "promtool", "prometheus"), "check", "config", PrometheusFile)
	run(t, r, tool(t, "amtool", "prometheus-alertmanager"), "check-config", AlertmanagerFile)
}

// TestAlertRulesShape: every alert has a severity, the three annotations, a `for` unless its
// expression already spans a window, and a runbook that exists in docs/operations.md.
func TestAlertRulesShape(t *testing.T) {
	r := root(t)
	groups, err := AlertRules(r)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(r, OperationsDoc))
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(string(doc))
	seen := map[string]bool{}
	for _, g := range groups {
		for _, rule := range g.Rules {
			name := rule.Alert
			if name == "" {
				t.Errorf("group %s: a rule that is not an alert (%s)", g.Name, rule.Record)
				continue
			}
			if seen[name] {
				t.Errorf("alert %s is defined twice", name)
			}
			seen[name] = true
			if s := rule.Labels["severity"]; s != "page" && s != "ticket" {
				t.Errorf("alert %s: severity %q, want page or ticket", name, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if rule.Annotations[a] == "" {
					t.Errorf("alert %s: no %s annotation", name, a)
				}
			}
			if rule.For == "" && !strings.Contains(rule.Expr, "increase(") {
				t.Errorf("alert %s: no `for:`, so one bad scrape fires it", name)
			}
			want := OperationsDoc + "#" + strings.ToLower(name)
			if rule.Annotations["runbook_url"] != want {
				t.Errorf("alert %s: runbook_url %q, want %q", name, rule.Annotations["runbook_url"], want)
			}
			if !anchors[strings.ToLower(name)] {
				t.Errorf("alert %s: docs/operations.md has no runbook heading %q", name, name)
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no alerts read")
	}
}

// markdownAnchors returns the anchors GitHub gives the headings of a Markdown document.
func markdownAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		anchors[strings.ReplaceAll(drop.ReplaceAllString(h, ""), " ", "-")] = true
	}
	return anchors
}

// TestPrometheusRuleMatchesRulesFile: the Kubernetes PrometheusRule holds exactly the groups
// and rules of alerts.yml.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	r := root(t)
	var rulesFile, k8s map[string]any
	if err := ReadYAML(r, AlertRulesFile, &rulesFile); err != nil {
		t.Fatal(err)
	}
	if err := ReadYAML(r, PrometheusRuleFile, &k8s); err != nil {
		t.Fatal(err)
	}
	if k8s["kind"] != "PrometheusRule" || k8s["apiVersion"] != "monitoring.coreos.com/v1" {
		t.Fatalf("%s: kind %v, apiVersion %v", PrometheusRuleFile, k8s["kind"], k8s["apiVersion"])
	}
	spec, _ := k8s["spec"].(map[string]any)
	if len(spec) != 1 || spec["groups"] == nil {
		t.Fatalf("%s: spec should hold only groups, has %v", PrometheusRuleFile, spec)
	}
	if len(rulesFile) != 1 {
		t.Fatalf("%s: want only groups at the top, have %v", AlertRulesFile, rulesFile)
	}
	if !reflect.DeepEqual(spec["groups"], rulesFile["groups"]) {
		t.Fatalf("%s's groups differ from %s:\n%s", PrometheusRuleFile, AlertRulesFile,
			firstDifference(rulesFile["groups"], spec["groups"], "groups"))
	}
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	if err := ReadYAML(r, filepath.Join(filepath.Dir(PrometheusRuleFile), "kustomization.yaml"), &kust); err != nil {
		t.Fatal(err)
	}
	if !contains(kust.Resources, filepath.Base(PrometheusRuleFile)) {
		t.Fatalf("the monitoring kustomization does not list %s: %v", filepath.Base(PrometheusRuleFile), kust.Resources)
	}
}

// firstDifference names where two decoded YAML values first differ.
func firstDifference(want, got any, path string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %T, want a map", path, got)
		}
		for k := range w {
			if !reflect.DeepEqual(w[k], g[k]) {
				return firstDifference(w[k], g[k], path+"."+k)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Sprintf("%s.%s: not in the rules file", path, k)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: %d items, want %d", path, len(g), len(w))
		}
		for i := range w {
			if !reflect.DeepEqual(w[i], g[i]) {
				return firstDifference(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	return fmt.Sprintf("%s: %v, want %v", path, got, want)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestDashboard: panels have unique ids and queries, use the provisioned datasource, and
// every query is valid PromQL (promtool checks them as recording rules, with Grafana's
// variables replaced).
func TestDashboard(t *testing.T) {
	r := root(t)
	promtool := tool(t, "promtool", "prometheus")
	d, err := ReadDashboard(r)
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := ReadYAML(r, "deploy/grafana/provisioning/datasources/prometheus.yml", &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Fatalf("provisioned datasources: %+v, want the compose Prometheus", ds.Datasources)
	}
	uid := ds.Datasources[0].UID
	ids := map[int]bool{}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	queries := 0
	for _, p := range d.AllPanels() {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != uid {
			t.Errorf("panel %q: datasource is not the provisioned %q", p.Title, uid)
		}
		for _, q := range p.Targets {
			if q.Datasource.UID != uid {
				t.Errorf("panel %q: a query's datasource is not %q", p.Title, uid)
			}
			expr := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*").Replace(q.Expr)
			fmt.Fprintf(&rules, "      - record: panel_%d\n        expr: %q\n", p.ID, expr)
			queries++
		}
	}
	if queries < 20 {
		t.Fatalf("the dashboard has %d queries; it should cover requests, latency, WebSockets, broker, jobs, push, database and the Go runtime", queries)
	}
	file := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, r, promtool, "check", "rules", file)
}

// TestComposeMonitoringProfile: `docker compose --profile monitoring up` has the three
// services, each in the profile, every file it mounts exists, and Prometheus scrapes api:9102.
func TestComposeMonitoringProfile(t *testing.T) {
	r := root(t)
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Profiles    []string          `yaml:"profiles"`
			Volumes     []string          `yaml:"volumes"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := ReadYAML(r, ComposeFile, &compose); err != nil {
		t.Fatal(err)
	}
	mounted := map[string]string{} // container path -> host path
	for _, name := range []string{"prometheus", "alertmanager", "grafana"} {
		svc, ok := compose.Services[name]
		if !ok {
			t.Fatalf("compose.yaml has no %s service", name)
		}
		if !contains(svc.Profiles, "monitoring") {
			t.Errorf("%s is not in the monitoring profile (profiles %v): it would start with the app", name, svc.Profiles)
		}
		if svc.Image == "" || !strings.Contains(svc.Image, ":") || strings.HasSuffix(svc.Image, ":latest") {
			t.Errorf("%s: image %q is not pinned to a version", name, svc.Image)
		}
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if !strings.HasPrefix(parts[0], "./") {
				continue
			}
			host := filepath.Join(r, parts[0])
			if _, err := os.Stat(host); err != nil {
				t.Errorf("%s mounts %s, which does not exist", name, parts[0])
			}
			mounted[parts[1]] = parts[0]
		}
	}
	for container, host := range map[string]string{
		"/etc/prometheus/prometheus.yml":        "./" + PrometheusFile,
		"/etc/prometheus/alerts.yml":            "./" + AlertRulesFile,
		"/etc/alertmanager/alertmanager.yml":    "./" + AlertmanagerFile,
		"/etc/grafana/provisioning/datasources": "./deploy/grafana/provisioning/datasources",
		"/etc/grafana/provisioning/dashboards":  "./deploy/grafana/provisioning/dashboards",
		"/etc/grafana/dashboards":               "./" + filepath.Dir(DashboardFile),
	} {
		if mounted[container] != host {
			t.Errorf("compose mounts %q at %s, want %s", mounted[container], container, host)
		}
	}
	// The dashboard provider reads the directory compose mounts the dashboards at.
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := ReadYAML(r, "deploy/grafana/provisioning/dashboards/circly.yml", &provider); err != nil {
		t.Fatal(err)
	}
	if len(provider.Providers) != 1 || provider.Providers[0].Options.Path != "/etc/grafana/dashboards" {
		t.Errorf("dashboard provider: %+v, want path /etc/grafana/dashboards", provider.Providers)
	}
	// Prometheus finds the replicas' private metrics port and the rules beside its config.
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := ReadYAML(r, PrometheusFile, &prom); err != nil {
		t.Fatal(err)
	}
	if !contains(prom.RuleFiles, "alerts.yml") {
		t.Errorf("prometheus.yml rule_files %v does not load alerts.yml", prom.RuleFiles)
	}
	scrapesAPI := false
	for _, sc := range prom.ScrapeConfigs {
		for _, dns := range sc.DNSSDConfigs {
			if sc.JobName == "circly" && contains(dns.Names, "api") && dns.Port == 9102 {
				scrapesAPI = true
			}
		}
	}
	if !scrapesAPI {
		t.Error(`prometheus.yml does not scrape api:9102 as job "circly" (the alerts select job="circly")`)
	}
}

// TestScriptsPassShellcheck: every script under scripts/ (backups, the walk-through, the peer
// benchmark) has no shellcheck finding.
func TestScriptsPassShellcheck(t *testing.T) {
	sc := tool(t, "shellcheck", "shellcheck")
	r := root(t)
	scripts, err := filepath.Glob(filepath.Join(r, "scripts", "*.sh"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts found under %s/scripts (%v)", r, err)
	}
	run(t, r, sc, scripts...)
}
