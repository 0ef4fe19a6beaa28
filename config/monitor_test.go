package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"circly/config"
)

func loadMonitor(vars map[string]string) (config.Monitor, error) {
	return config.MonitorFromLookup(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
}

func TestMonitorSettings(t *testing.T) {
	m, err := loadMonitor(map[string]string{"MONITOR_URLS": "http://10.0.0.5:8000/, https://b.example.com", "ALERT_WEBHOOK_URL": "https://hooks.example.com/T/B/x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://10.0.0.5:8000", "https://b.example.com"}; !reflect.DeepEqual(m.URLs, want) {
		t.Errorf("URLs %v, want %v", m.URLs, want)
	}
	if m.Interval != 30*time.Second || m.Timeout != 10*time.Second || m.StableChecks != 3 || m.SMTP.Addr != "" {
		t.Errorf("defaults: %+v", m)
	}
	if masked := m.Masked(); masked["webhook"] != "***" {
		t.Errorf("webhook URL not masked: %v", masked["webhook"])
	}
	m, err = loadMonitor(map[string]string{"MONITOR_URLS": "http://a:8000", "MONITOR_INTERVAL": "200ms", "SMTP_ADDR": "smtp.example.com:587",
		"SMTP_USERNAME": "u", "SMTP_PASSWORD": "p", "ALERT_EMAIL_FROM": "m@example.com", "ALERT_EMAIL_TO": "a@example.com, b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Interval != 200*time.Millisecond || !reflect.DeepEqual(m.SMTP.To, []string{"a@example.com", "b@example.com"}) {
		t.Errorf("read %+v", m)
	}
}

func TestMonitorSettingErrorsNameTheSetting(t *testing.T) {
	hook := "https://hooks.example.com/x"
	smtp := func(extra map[string]string) map[string]string {
		v := map[string]string{"MONITOR_URLS": "http://a:8000", "SMTP_ADDR": "mail:587", "ALERT_EMAIL_FROM": "m@x.io", "ALERT_EMAIL_TO": "o@x.io"}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
	cases := []struct {
		vars map[string]string
		name string
	}{
		{map[string]string{"ALERT_WEBHOOK_URL": hook}, "MONITOR_URLS"},
		{map[string]string{"MONITOR_URLS": "10.0.0.5:8000", "ALERT_WEBHOOK_URL": hook}, "MONITOR_URLS"},
		{map[string]string{"MONITOR_URLS": "http://a?x=1", "ALERT_WEBHOOK_URL": hook}, "MONITOR_URLS"},
		{map[string]string{"MONITOR_URLS": "http://a,http://a/", "ALERT_WEBHOOK_URL": hook}, "MONITOR_URLS"},
		{map[string]string{"MONITOR_URLS": strings.Repeat("http://a,", 100) + "http://b", "ALERT_WEBHOOK_URL": hook}, "MONITOR_URLS"},
		{map[string]string{"MONITOR_URLS": "http://a"}, "ALERT_WEBHOOK_URL or SMTP_ADDR"},
		{map[string]string{"MONITOR_URLS": "http://a", "ALERT_WEBHOOK_URL": "hooks.example.com"}, "ALERT_WEBHOOK_URL"},
		{map[string]string{"MONITOR_URLS": "http://a", "ALERT_WEBHOOK_URL": hook, "MONITOR_INTERVAL": "50ms"}, "MONITOR_INTERVAL"},
		{map[string]string{"MONITOR_URLS": "http://a", "ALERT_WEBHOOK_URL": hook, "MONITOR_TIMEOUT": "soon"}, "MONITOR_TIMEOUT"},
		{map[string]string{"MONITOR_URLS": "http://a", "ALERT_WEBHOOK_URL": hook, "MONITOR_STABLE_CHECKS": "0"}, "MONITOR_STABLE_CHECKS"},
		{map[string]string{"MONITOR_URLS": "http://a", "ALERT_WEBHOOK_URL": hook, "ALERT_EMAIL_TO": "o@x.io"}, "SMTP_ADDR"},
		{smtp(map[string]string{"SMTP_ADDR": "mail"}), "SMTP_ADDR"},
		{smtp(map[string]string{"SMTP_ADDR": ":587"}), "SMTP_ADDR"},
		{smtp(map[string]string{"SMTP_USERNAME": "u"}), "SMTP_PASSWORD"},
		{smtp(map[string]string{"ALERT_EMAIL_FROM": ""}), "ALERT_EMAIL_FROM"},
		{smtp(map[string]string{"ALERT_EMAIL_FROM": "not an address"}), "ALERT_EMAIL_FROM"},
		{smtp(map[string]string{"ALERT_EMAIL_TO": ""}), "ALERT_EMAIL_TO"},
		{smtp(map[string]string{"ALERT_EMAIL_TO": "o@x.io, nobody"}), "ALERT_EMAIL_TO"},
	}
	for _, c := range cases {
		_, err := loadMonitor(c.vars)
		if err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%v: err %v, want one naming %s", c.vars, err, c.name)
		}
	}
	// The webhook URL is a credential: a bad one is named, not repeated.
	if _, err := loadMonitor(map[string]string{"MONITOR_URLS": "http://a", "ALERT_WEBHOOK_URL": "ftp://secret-token"}); err == nil || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("bad webhook URL: %v", err)
	}
}
