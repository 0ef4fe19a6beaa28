package e2e_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"circly/internal/testproc"
	"circly/internal/testredis"
	"circly/monitor/smtptest"
)

// webhookReceiver is a Slack-compatible incoming webhook that records each alert's text.
type webhookReceiver struct {
	mu    sync.Mutex
	texts []string
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var body struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Text == "" {
		http.Error(rw, "want {\"text\": …}", http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	w.texts = append(w.texts, body.Text)
	w.mu.Unlock()
}

func (w *webhookReceiver) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.texts...)
}

// waitTexts waits until the receiver holds n alerts or timeout passes; it returns them.
func (w *webhookReceiver) waitTexts(n int, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && len(w.got()) < n {
		time.Sleep(20 * time.Millisecond)
	}
	return w.got()
}

// startMonitor starts `circly monitor` with the given settings; it is killed when the test ends.
func startMonitor(t *testing.T, vars map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(binary, "monitor")
	cmd.Env = envList(vars)
	cmd.Dir = t.TempDir()
	p := &proc{t: t, name: "monitor", cmd: cmd, stderr: &testproc.Output{}, stdout: &testproc.Output{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start monitor: %v", err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("---- monitor stderr ----\n%s", p.stderr.String())
		}
	})
	return p
}

// TestMonitorAlertsDownAndRecovered: `circly monitor` watching a real replica sends exactly one
// "down" when the replica stops and exactly one "recovered" when it is back on the same port,
// to a webhook and by e-mail, and stops cleanly on SIGTERM.
func TestMonitorAlertsDownAndRecovered(t *testing.T) {
	hook := &webhookReceiver{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	mail := smtptest.Start(t, smtptest.Options{Username: "alerts", Password: "s3cret"})

	port := testproc.FreePort(t)
	replicaEnv := envList(map[string]string{"DATA_DIR": t.TempDir(), "PORT": strconv.Itoa(port), "LOG_LEVEL": "warn", "SHUTDOWN_DRAIN": "1s"})
	replica := startProcEnv(t, "replica", port, replicaEnv)
	replica.waitHealthy(60 * time.Second)

	const interval = 200 * time.Millisecond // the shortest MONITOR_INTERVAL allowed is 100ms
	mon := startMonitor(t, map[string]string{
		"MONITOR_URLS": replica.URL, "MONITOR_INTERVAL": interval.String(), "MONITOR_TIMEOUT": "2s", "MONITOR_STABLE_CHECKS": "2",
		"ALERT_WEBHOOK_URL": hookSrv.URL + "/services/T000/B000/token",
		"SMTP_ADDR":         mail.Addr, "SMTP_USERNAME": "alerts", "SMTP_PASSWORD": "s3cret",
		"ALERT_EMAIL_FROM": "monitor@circly.test", "ALERT_EMAIL_TO": "ops@circly.test",
		"LOG_FORMAT": "json",
	})

	// A healthy replica is no news.
	time.Sleep(5 * interval)
	if got := hook.got(); len(got) != 0 {
		t.Fatalf("alerts while the replica is healthy: %q", got)
	}

	stoppedAt := time.Now()
	replica.signal(syscall.SIGTERM)
	if code, ok := replica.wait(15 * time.Second); !ok || code != 0 {
		t.Fatalf("replica SIGTERM: exit code %d (exited %v)", code, ok)
	}
	texts := hook.waitTexts(1, 10*time.Second)
	if len(texts) != 1 || !strings.HasPrefix(texts[0], "DOWN: "+replica.URL) {
		t.Fatalf("after the replica stopped: alerts %q, want one DOWN", texts)
	}
	t.Logf("down alert %s after SIGTERM: %s", time.Since(stoppedAt).Round(time.Millisecond), texts[0])
	time.Sleep(10 * interval) // the replica stays down: no repeat
	if got := hook.got(); len(got) != 1 {
		t.Fatalf("alerts while the replica stays down: %q, want the one DOWN", got)
	}

	restartedAt := time.Now()
	again := startProcEnv(t, "replica-restarted", port, replicaEnv)
	again.waitHealthy(60 * time.Second)
	texts = hook.waitTexts(2, 10*time.Second)
	if len(texts) != 2 || !strings.HasPrefix(texts[1], "RECOVERED: "+replica.URL) {
		t.Fatalf("after the replica restarted: alerts %q, want DOWN then RECOVERED", texts)
	}
	t.Logf("recovered alert %s after the restart: %s", time.Since(restartedAt).Round(time.Millisecond), texts[1])
	time.Sleep(10 * interval) // healthy again: nothing more
	if got := hook.got(); len(got) != 2 {
		t.Fatalf("alerts while the replica stays healthy: %q, want DOWN and RECOVERED only", got)
	}

	msgs := mail.Wait(2, 10*time.Second)
	if len(msgs) != 2 || msgs[0].User != "alerts" || !strings.Contains(msgs[0].Data, "DOWN: "+replica.URL) ||
		!strings.Contains(msgs[1].Data, "RECOVERED: "+replica.URL) || msgs[1].To[0] != "ops@circly.test" {
		t.Fatalf("e-mails: %+v, want a DOWN then a RECOVERED to ops@circly.test", msgs)
	}

	mon.signal(syscall.SIGTERM)
	if code, ok := mon.wait(5 * time.Second); !ok || code != 0 {
		t.Fatalf("monitor SIGTERM: exit code %d (exited %v)", code, ok)
	}
	logs := mon.stderr.String() + mon.stdout.String()
	if n := strings.Count(logs, `"alert sent"`); n != 4 {
		t.Errorf("%d 'alert sent' log lines, want 4 (2 alerts × webhook and e-mail):\n%s", n, logs)
	}
	if strings.Contains(logs, "T000/B000/token") || strings.Contains(logs, "s3cret") {
		t.Errorf("the monitor logged a secret:\n%s", logs)
	}
}

// TestMonitorDegradedDependency: a replica whose Redis dies answers 503 naming it; the monitor
// sends one "degraded" naming redis, and one "recovered" when Redis is back.
func TestMonitorDegradedDependency(t *testing.T) {
	hook := &webhookReceiver{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	rd := testredis.New(t)
	replica := startServer(t, "replica", map[string]string{"DATA_DIR": t.TempDir(), "REDIS_URL": rd.URL(), "LOG_LEVEL": "error"})
	startMonitor(t, map[string]string{"MONITOR_URLS": replica.URL, "MONITOR_INTERVAL": "200ms", "MONITOR_STABLE_CHECKS": "2",
		"ALERT_WEBHOOK_URL": hookSrv.URL})

	time.Sleep(time.Second)
	rd.Stop()
	texts := hook.waitTexts(1, 10*time.Second)
	if len(texts) != 1 || !strings.HasPrefix(texts[0], "DEGRADED: "+replica.URL) || !strings.Contains(texts[0], "redis: unreachable") {
		t.Fatalf("after Redis stopped: alerts %q, want one DEGRADED naming redis", texts)
	}
	rd.Start()
	texts = hook.waitTexts(2, 15*time.Second)
	if len(texts) != 2 || !strings.HasPrefix(texts[1], "RECOVERED: "+replica.URL) {
		t.Fatalf("after Redis restarted: alerts %q, want DEGRADED then RECOVERED", texts)
	}
	time.Sleep(time.Second)
	if got := hook.got(); len(got) != 2 {
		t.Fatalf("alerts %q, want DEGRADED and RECOVERED only", got)
	}
}

// TestMonitorSettings: the monitor refuses to start without replicas or a way to alert.
func TestMonitorSettings(t *testing.T) {
	res := runCmd(t, map[string]string{"ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook"}, 10*time.Second, "monitor")
	if res.Code == 0 || !strings.Contains(res.Stderr, "MONITOR_URLS") {
		t.Errorf("monitor without MONITOR_URLS: code %d stderr %q", res.Code, res.Stderr)
	}
	res = runCmd(t, map[string]string{"MONITOR_URLS": "http://127.0.0.1:9"}, 10*time.Second, "monitor")
	if res.Code == 0 || !strings.Contains(res.Stderr, "ALERT_WEBHOOK_URL or SMTP_ADDR") {
		t.Errorf("monitor without a destination: code %d stderr %q", res.Code, res.Stderr)
	}
	res = runCmd(t, map[string]string{"MONITOR_URLS": "http://127.0.0.1:9", "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
		"MONITOR_INTERVAL": "10ms"}, 10*time.Second, "monitor")
	if res.Code == 0 || !strings.Contains(res.Stderr, "MONITOR_INTERVAL") {
		t.Errorf("MONITOR_INTERVAL=10ms: code %d stderr %q", res.Code, res.Stderr)
	}
}
