package opstest

import (
	"slices"
	"testing"
)

func TestMetricNames(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`up{job="circly"} == 0`, []string{"up"}},
		{`absent(up{job="circly"} == 1)`, []string{"up"}},
		{`sum by (job) (rate(jobs_runs_total{result="error", job=~"a|b"}[5m])) / on (job) group_left(x) max(jobs_interval_seconds)`,
			[]string{"jobs_interval_seconds", "jobs_runs_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{route!="/v1/ws",instance=~"$instance"}[$__rate_interval])))`,
			[]string{"http_request_duration_seconds_bucket"}},
		{"time() - max(circly_backup_last_success_timestamp_seconds offset 5m) > 26 * 3600 or absent(x:recorded)",
			[]string{"circly_backup_last_success_timestamp_seconds", "x:recorded"}},
		{`count_values("v", build_info{a="}"}) and bool 1e3 # a comment naming not_a_metric`, []string{"build_info"}},
		{`sum without (instance) (a) unless ignoring (b) c`, []string{"a", "c"}},
	}
	for _, c := range cases {
		got, err := MetricNames(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("MetricNames(%s) = %v, want %v", c.expr, got, c.want)
		}
	}
	for _, bad := range []string{`up{job="x"`, `rate(x[5m)`, `up{job="x}`} {
		if _, err := MetricNames(bad); err == nil {
			t.Errorf("MetricNames(%s): no error", bad)
		}
	}
}
