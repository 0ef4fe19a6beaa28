package config_test

import (
	"reflect"
	"strings"
	"testing"
)

func TestMetricsAddr(t *testing.T) {
	if c := mustLoad(t, nil); c.MetricsAddr != "" {
		t.Errorf("default METRICS_ADDR = %q, want empty (main port)", c.MetricsAddr)
	}
	for _, ok := range []string{":9090", "127.0.0.1:9090", "[::1]:9100"} {
		if c := mustLoad(t, map[string]string{"METRICS_ADDR": ok}); c.MetricsAddr != ok {
			t.Errorf("METRICS_ADDR=%s read as %q", ok, c.MetricsAddr)
		}
	}
	for _, bad := range []string{"9090", "host", ":abc", ":70000"} {
		if _, err := load(map[string]string{"METRICS_ADDR": bad}); err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
			t.Errorf("METRICS_ADDR=%q: err %v, want one naming METRICS_ADDR", bad, err)
		}
	}
}

func TestCORSAllowedOrigins(t *testing.T) {
	if c := mustLoad(t, nil); len(c.CORSAllowedOrigins) != 0 {
		t.Errorf("default CORS_ALLOWED_ORIGINS = %v, want none", c.CORSAllowedOrigins)
	}
	c := mustLoad(t, map[string]string{"CORS_ALLOWED_ORIGINS": " https://Circly.app , http://localhost:3000/ "})
	if want := []string{"https://circly.app", "http://localhost:3000"}; !reflect.DeepEqual(c.CORSAllowedOrigins, want) {
		t.Errorf("origins = %v, want %v", c.CORSAllowedOrigins, want)
	}
	if c := mustLoad(t, map[string]string{"CORS_ALLOWED_ORIGINS": "*"}); !reflect.DeepEqual(c.CORSAllowedOrigins, []string{"*"}) {
		t.Errorf("* read as %v", c.CORSAllowedOrigins)
	}
	for _, bad := range []string{"circly.app", "ftp://x.y", "https://x.y/path", "*,https://x.y", "https://u:p@x.y"} {
		if _, err := load(map[string]string{"CORS_ALLOWED_ORIGINS": bad}); err == nil || !strings.Contains(err.Error(), "CORS_ALLOWED_ORIGINS") {
			t.Errorf("CORS_ALLOWED_ORIGINS=%q: err %v, want one naming it", bad, err)
		}
	}
}

func TestMetricsPprof(t *testing.T) {
	if c := mustLoad(t, nil); c.MetricsPprof {
		t.Error("METRICS_PPROF is on by default")
	}
	if c := mustLoad(t, map[string]string{"METRICS_ADDR": "127.0.0.1:9090", "METRICS_PPROF": "true"}); !c.MetricsPprof {
		t.Error("METRICS_PPROF=true read as off")
	}
	if _, err := load(map[string]string{"METRICS_PPROF": "true"}); err == nil || !strings.Contains(err.Error(), "METRICS_PPROF") {
		t.Errorf("METRICS_PPROF without METRICS_ADDR: err %v, want one naming METRICS_PPROF", err)
	}
}

func TestWSMaxConnsPerUser(t *testing.T) {
	if c := mustLoad(t, nil); c.WSMaxConnsPerUser != 10 {
		t.Errorf("default WS_MAX_CONNS_PER_USER = %d, want the contract's 10", c.WSMaxConnsPerUser)
	}
	if c := mustLoad(t, map[string]string{"WS_MAX_CONNS_PER_USER": "200"}); c.WSMaxConnsPerUser != 200 {
		t.Errorf("WS_MAX_CONNS_PER_USER=200 read as %d", c.WSMaxConnsPerUser)
	}
	for _, bad := range []string{"0", "-1", "ten"} {
		if _, err := load(map[string]string{"WS_MAX_CONNS_PER_USER": bad}); err == nil || !strings.Contains(err.Error(), "WS_MAX_CONNS_PER_USER") {
			t.Errorf("WS_MAX_CONNS_PER_USER=%q: err %v, want one naming it", bad, err)
		}
	}
}
