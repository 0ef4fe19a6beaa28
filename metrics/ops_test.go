package metrics

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHealthDependencyUp: the gauge is the probe's answer at scrape time, and absent without one.
func TestHealthDependencyUp(t *testing.T) {
	t.Cleanup(func() { SetHealthProbe(nil) })
	if n, err := testutil.GatherAndCount(Registry, "health_dependency_up"); err != nil || n != 0 {
		t.Fatalf("no probe: %d series (%v), want none", n, err)
	}
	calls := 0
	SetHealthProbe(func(ctx context.Context) map[string]bool {
		calls++
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the probe runs without a deadline")
		}
		return map[string]bool{"database": false, "storage": true}
	})
	want := `
# HELP health_dependency_up Whether this replica reaches a dependency (1) or not (0), as /health/detailed reports it.
# TYPE health_dependency_up gauge
health_dependency_up{dependency="database"} 0
health_dependency_up{dependency="storage"} 1
`
	if err := testutil.GatherAndCompare(Registry, strings.NewReader(want), "health_dependency_up"); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("one scrape called the probe %d times", calls)
	}
}

// TestScheduleJob: a scheduled job has its interval and starts as just succeeded.
func TestScheduleJob(t *testing.T) {
	before := float64(time.Now().Unix())
	ScheduleJob("test_job", 30*time.Second)
	if got := testutil.ToFloat64(JobInterval.WithLabelValues("test_job")); got != 30 {
		t.Fatalf("jobs_interval_seconds = %v, want 30", got)
	}
	if got := testutil.ToFloat64(JobLastSuccess.WithLabelValues("test_job")); got < before || got > before+5 {
		t.Fatalf("jobs_last_success_timestamp_seconds = %v, want about %v", got, before)
	}
	if got := testutil.ToFloat64(JobRuns.WithLabelValues("test_job", "skipped")); got != 0 {
		t.Fatalf("the job's runs were not declared at 0: %v", got)
	}
}

// TestRegisterDBPool: the pool's statistics are served, once; unregistering frees the names.
func TestRegisterDBPool(t *testing.T) {
	db := sql.OpenDB(unusedConnector{}) // statistics need no connection
	defer db.Close()
	unregister, err := RegisterDBPool(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RegisterDBPool(db); err == nil {
		t.Fatal("a second pool was registered under the same names")
	}
	if n, err := testutil.GatherAndCount(Registry, "go_sql_max_open_connections"); err != nil || n != 1 {
		t.Fatalf("go_sql_max_open_connections: %d series (%v)", n, err)
	}
	unregister()
	if n, _ := testutil.GatherAndCount(Registry, "go_sql_max_open_connections"); n != 0 {
		t.Fatalf("still exported after unregistering: %d", n)
	}
}

// unusedConnector is a database/sql connector that is never asked for a connection.
type unusedConnector struct{}

func (unusedConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("unused")
}
func (c unusedConnector) Driver() driver.Driver          { return c }
func (unusedConnector) Open(string) (driver.Conn, error) { return nil, errors.New("unused") }
