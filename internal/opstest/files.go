package opstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/goccy/go-yaml"
)

// Paths of the monitoring files, relative to the repository root.
const (
	AlertRulesFile     = "deploy/prometheus/alerts.yml"
	AlertRulesTestFile = "deploy/prometheus/alerts_test.yml"
	PrometheusFile     = "deploy/prometheus/prometheus.yml"
	PrometheusRuleFile = "deploy/k8s/monitoring/prometheusrule.yaml"
	AlertmanagerFile   = "deploy/alertmanager/alertmanager.yml"
	DashboardFile      = "deploy/grafana/dashboards/circly.json"
	OperationsDoc      = "docs/operations.md"
	ComposeFile        = "compose.yaml"
)

// Root is the repository root: the nearest directory above the working directory with go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// RuleGroup and Rule are the parts of a Prometheus rules file the tests look at.
type RuleGroup struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// Rule is an alerting or recording rule.
type Rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// ReadYAML decodes a YAML file of the repository into v.
func ReadYAML(root, path string, v any) error {
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// AlertRules reads deploy/prometheus/alerts.yml.
func AlertRules(root string) ([]RuleGroup, error) {
	var file struct {
		Groups []RuleGroup `yaml:"groups"`
	}
	err := ReadYAML(root, AlertRulesFile, &file)
	return file.Groups, err
}

// Panel is a Grafana panel (rows hold panels of their own).
type Panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []Panel `json:"panels"`
	Targets []struct {
		Expr       string `json:"expr"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
}

// Dashboard is the part of a Grafana dashboard JSON the tests look at.
type Dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []Panel `json:"panels"`
}

// ReadDashboard reads the dashboard JSON.
func ReadDashboard(root string) (Dashboard, error) {
	var d Dashboard
	data, err := os.ReadFile(filepath.Join(root, DashboardFile))
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return d, fmt.Errorf("%s: %w", DashboardFile, err)
	}
	return d, nil
}

// AllPanels flattens rows into their panels.
func (d Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// Query is one PromQL expression and where it comes from.
type Query struct {
	Where string // "alert X" or "panel Y"
	Expr  string
}

// Queries lists every PromQL expression of the alert rules and the dashboard's panels.
func Queries(root string) ([]Query, error) {
	groups, err := AlertRules(root)
	if err != nil {
		return nil, err
	}
	var qs []Query
	for _, g := range groups {
		for _, r := range g.Rules {
			qs = append(qs, Query{Where: "alert " + r.Alert + r.Record, Expr: r.Expr})
		}
	}
	d, err := ReadDashboard(root)
	if err != nil {
		return nil, err
	}
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			qs = append(qs, Query{Where: "panel " + p.Title, Expr: t.Expr})
		}
	}
	return qs, nil
}
